/**
 * Opening, watching and closing one ssh2 connection, with the host key recorded (and checked when
 * pinned), and a single deadline/abort signal covering a whole call.
 */
import { createHash } from 'node:crypto';
import type { InfrastructureError } from '@inno-train/core';
import { Client, utils, type ConnectConfig, type ParsedKey } from 'ssh2';
import { connectError, connectionLostError, invalidKeyError, silentPeerError } from './errors';
import { fingerprintOf, sameFingerprint } from './fingerprint';
import type { SshTarget } from './types';

/**
 * One AbortSignal for "the caller gave up" and "the time is up"; its reason is what the
 * operation rejects with, so every step only has to honour a signal.
 */
export class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly external: AbortSignal | undefined;
  private readonly onExternalAbort = () => this.controller.abort(this.external?.reason);

  constructor(timeoutMs: number, onTimeout: () => Error, external?: AbortSignal) {
    this.external = external;
    this.timer = setTimeout(() => this.controller.abort(onTimeout()), timeoutMs);
    if (external?.aborted) this.controller.abort(external.reason);
    else external?.addEventListener('abort', this.onExternalAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Stops the clock and keeps the caller's abort: a stream has a limit to open, none to run. */
  disarm(): void {
    clearTimeout(this.timer);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.external?.removeEventListener('abort', this.onExternalAbort);
  }
}

/** Rejects with the signal's reason as soon as it fires; `work` itself is left to finish or fail. */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  work.catch(() => undefined);
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}

const parsedKeys = new Map<string, ParsedKey>();

/** The target's private key, parsed (and decrypted) once per process. Throws for unusable keys. */
export function parsedKeyOf(target: Pick<SshTarget, 'privateKey' | 'passphrase'>): ParsedKey {
  const id = createHash('sha256')
    .update(target.privateKey)
    .update('\0')
    .update(target.passphrase ?? '')
    .digest('hex');
  const cached = parsedKeys.get(id);
  if (cached) return cached;
  const parsed = utils.parseKey(target.privateKey, target.passphrase);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error || !key.isPrivateKey()) {
    throw new Error(`Cannot parse privateKey: ${key instanceof Error ? key.message : 'not a private key'}`);
  }
  if (parsedKeys.size > 64) parsedKeys.clear();
  parsedKeys.set(id, key);
  return key;
}

export interface OpenOptions {
  readyTimeoutMs: number;
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
  signal: AbortSignal;
  /** Called with every host key fingerprint seen, before any check, so callers can pin it. */
  onHostKey: (fingerprint: string) => void;
}

/** Resolves with a ready (authenticated) client, or rejects with a typed error; never leaks the socket. */
export function openConnection(target: SshTarget, options: OpenOptions): Promise<Client> {
  return new Promise((resolve, reject) => {
    const { signal } = options;
    if (signal.aborted) return reject(signal.reason);
    const client = new Client();
    let settled = false;
    let rejectedKey: { seen: string } | undefined;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      outcome();
    };
    const onAbort = () =>
      settle(() => {
        client.destroy();
        reject(signal.reason);
      });
    signal.addEventListener('abort', onAbort, { once: true });
    // Kept for the client's whole life: ssh2 emits more than one error (e.g. "Connection lost
    // before handshake" after a timeout) and an 'error' event without a listener crashes the process.
    client.on('error', (error) =>
      settle(() => {
        client.destroy();
        reject(connectError(error, target, rejectedKey));
      }),
    );
    client.once('close', () =>
      settle(() => reject(connectError(new Error('Connection closed before the session was ready'), target, rejectedKey))),
    );
    client.once('ready', () => settle(() => resolve(client)));
    let key: ParsedKey;
    try {
      key = parsedKeyOf(target);
    } catch (error) {
      settle(() => {
        client.destroy();
        reject(invalidKeyError(error, target));
      });
      return;
    }
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.username,
      // A pre-parsed key: decrypting an OpenSSH key (bcrypt KDF, pure JS here) costs ~0.6 s of CPU,
      // which every connection would otherwise pay again.
      authHandler: [{ type: 'publickey', username: target.username, key }] as unknown as ConnectConfig['authHandler'],
      readyTimeout: Math.max(1, Math.round(options.readyTimeoutMs)),
      keepaliveInterval: options.keepaliveIntervalMs,
      keepaliveCountMax: options.keepaliveCountMax,
      hostVerifier: (key: Buffer) => {
        const seen = fingerprintOf(key);
        options.onHostKey(seen);
        if (target.hostKeyFingerprint !== undefined && !sameFingerprint(seen, target.hostKeyFingerprint)) {
          rejectedKey = { seen };
          return false;
        }
        return true;
      },
    };
    try {
      client.connect(config);
      // Our calls are small request/answer exchanges: with Nagle's algorithm on, each waits out
      // the peer's delayed ACK (~40 ms) before its next packet leaves.
      client.setNoDelay(true);
    } catch (error) {
      // Thrown synchronously only for unusable keys (unparseable, wrong or missing passphrase).
      settle(() => {
        client.destroy();
        reject(invalidKeyError(error, target));
      });
    }
  });
}

/**
 * Watches a ready (possibly shared) connection while one call runs on it, and calls `onLost` when it
 * ends under the call: closed or reset by the peer, or silent past its keepalives. ssh2 settles
 * exec channels when their connection closes but leaves SFTP requests pending for ever, so without
 * this an upload to a host that died waited for its whole timeout (10 minutes, once) while the
 * instance kept billing.
 */
export function watchConnection(client: Client, target: SshTarget, what: string, onLost: (error: InfrastructureError) => void): () => void {
  const onError = (error: Error & { level?: string; code?: unknown }) => {
    if (error.level === 'client-timeout') onLost(silentPeerError(target, what));
    else onLost(connectionLostError(target, what, typeof error.code === 'string' ? error.code : undefined));
  };
  const onGone = () => onLost(connectionLostError(target, what));
  client.on('error', onError);
  client.once('end', onGone);
  client.once('close', onGone);
  return () => {
    client.removeListener('error', onError);
    client.removeListener('end', onGone);
    client.removeListener('close', onGone);
  };
}

/** How long a polite disconnect may take before the socket is simply destroyed. */
const GRACEFUL_CLOSE_MS = 2000;

/**
 * Ends the connection. The disconnect is sent first so sshd tears the session down cleanly (and
 * after a pending `signal` request); a peer that no longer answers cannot hold the socket open.
 */
export function closeConnection(client: Client): void {
  const timer = setTimeout(() => client.destroy(), GRACEFUL_CLOSE_MS);
  timer.unref();
  client.once('close', () => clearTimeout(timer));
  try {
    client.end();
  } catch {
    client.destroy();
  }
}
