/**
 * Turns ssh2's failures into InfrastructureErrors with stable codes, and makes sure no message
 * carries the key material: ssh2 and Node errors are not written with secrets in mind.
 */
import { InfrastructureError, InnoError, scrubSecrets } from '@inno-train/core';
import type { SshTarget } from './types';

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
]);

/** The message with every known secret of the target masked, then the shared scrubber applied. */
export function safeMessage(message: string, target: SshTarget): string {
  let out = message;
  const secrets = [target.passphrase, typeof target.privateKey === 'string' ? target.privateKey : target.privateKey.toString('utf8')];
  for (const secret of secrets) {
    // Very short values would mask ordinary words; the key itself is caught by scrubSecrets' PEM rule too.
    if (secret && secret.length >= 4 && out.includes(secret)) out = out.split(secret).join('[REDACTED]');
  }
  return scrubSecrets(out);
}

export function where(target: SshTarget): string {
  return `${target.username}@${target.host}:${target.port}`;
}

interface Ssh2Error {
  message: string;
  level?: string;
  code?: string | number;
}

/** Maps a failure before the session was ready (connect, handshake, auth). */
export function connectError(raw: unknown, target: SshTarget, hostKeyRejected: { seen: string } | undefined): InnoError {
  const err = (raw instanceof Error ? raw : new Error(String(raw))) as Error & Ssh2Error;
  const details = { level: err.level, code: err.code, host: target.host, port: target.port };
  const reason = safeMessage(err.message, target);
  if (hostKeyRejected) {
    return new InfrastructureError(
      'host_key_mismatch',
      `Host key of ${where(target)} is SHA256:${hostKeyRejected.seen}, not the pinned one; refusing to connect`,
      { retryable: false, details: { ...details, seen: hostKeyRejected.seen } },
    );
  }
  if (err.level === 'client-authentication') {
    return new InfrastructureError('ssh_auth_failed', `SSH authentication as ${where(target)} failed: ${reason}`, {
      retryable: false,
      details,
    });
  }
  if (err.level === 'client-timeout') {
    return new InfrastructureError('ssh_timeout', `SSH handshake with ${where(target)} timed out`, { retryable: true, details });
  }
  if (err.level === 'client-socket' && typeof err.code === 'string' && UNREACHABLE_CODES.has(err.code)) {
    return new InfrastructureError('ssh_unreachable', `Cannot reach ${where(target)}: ${reason}`, { retryable: true, details });
  }
  // Handshake/protocol failures (connection dropped before the banner, sshd at MaxStartups...).
  return new InfrastructureError('ssh_unreachable', `SSH connection to ${where(target)} failed: ${reason}`, { retryable: true, details });
}

/** ssh2 throws synchronously from connect() when the key cannot be parsed or decrypted. */
export function invalidKeyError(raw: unknown, target: SshTarget): InnoError {
  const message = raw instanceof Error ? raw.message : String(raw);
  return new InnoError('ssh_invalid_key', `Cannot use the private key for ${where(target)}: ${safeMessage(message, target)}`, {
    retryable: false,
  });
}

export function timeoutError(target: SshTarget, timeoutMs: number, what: string): InfrastructureError {
  return new InfrastructureError('ssh_timeout', `${what} on ${where(target)} did not finish within ${timeoutMs} ms`, {
    retryable: true,
    details: { host: target.host, port: target.port, timeoutMs },
  });
}

/** The peer closed or reset the connection while `what` ran on it (a host that died, most often). */
export function connectionLostError(target: SshTarget, what: string, socketCode?: string): InfrastructureError {
  return new InfrastructureError(
    'ssh_connection_lost',
    `Connection to ${where(target)} was lost during ${what}${socketCode ? ` (${socketCode})` : ''}`,
    {
      retryable: true,
      details: { host: target.host, port: target.port, ...(socketCode ? { code: socketCode } : {}) },
    },
  );
}

/** The connection stayed open but the peer stopped answering keepalives (a hung or cut-off host). */
export function silentPeerError(target: SshTarget, what: string): InfrastructureError {
  return new InfrastructureError('ssh_timeout', `${where(target)} stopped answering (SSH keepalives unanswered) during ${what}`, {
    retryable: true,
    details: { host: target.host, port: target.port },
  });
}

/** What calls and connects still under way get when SshExecutor.close() ends their connection. */
export function executorClosedError(): InfrastructureError {
  return new InfrastructureError('ssh_connection_lost', 'The SSH executor was closed (SshExecutor.close) while the call ran', {
    retryable: true,
  });
}

const unsent = new WeakSet<object>();

/**
 * Marks a connection-lost error as "nothing of the call reached the host" (its channel never
 * opened), the only case in which the executor may run the call again on a fresh connection.
 */
export function markUnsent<T extends Error>(error: T): T {
  unsent.add(error);
  return error;
}

export function isUnsent(error: unknown): boolean {
  return typeof error === 'object' && error !== null && unsent.has(error);
}
