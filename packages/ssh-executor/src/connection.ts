/**
 * Opening and closing one ssh2 connection, with the host key recorded (and checked when pinned),
 * and a single deadline/abort signal covering the whole operation.
 */
import { Client, type ConnectConfig } from 'ssh2';
import { connectError, invalidKeyError } from './errors';
import { fingerprintOf, sameFingerprint } from './fingerprint';
import type { SshTarget } from './types';

/**
 * One AbortSignal for "the caller gave up" and "the time is up"; its reason is what the
 * operation rejects with, so every step only has to honour a signal.
 */
export class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly endsAt: number;
  private readonly external: AbortSignal | undefined;
  private readonly onExternalAbort = () => this.controller.abort(this.external?.reason);

  constructor(timeoutMs: number, onTimeout: () => Error, external?: AbortSignal) {
    this.endsAt = Date.now() + timeoutMs;
    this.external = external;
    this.timer = setTimeout(() => this.controller.abort(onTimeout()), timeoutMs);
    if (external?.aborted) this.controller.abort(external.reason);
    else external?.addEventListener('abort', this.onExternalAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  remainingMs(): number {
    return Math.max(0, this.endsAt - Date.now());
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.external?.removeEventListener('abort', this.onExternalAbort);
  }
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
    const onAbort = () => settle(() => {
      client.destroy();
      reject(signal.reason);
    });
    signal.addEventListener('abort', onAbort, { once: true });
    // Kept for the client's whole life: ssh2 emits more than one error (e.g. "Connection lost
    // before handshake" after a timeout) and an 'error' event without a listener crashes the process.
    client.on('error', (error) => settle(() => {
      client.destroy();
      reject(connectError(error, target, rejectedKey));
    }));
    client.once('close', () => settle(() => reject(connectError(new Error('Connection closed before the session was ready'), target, rejectedKey))));
    client.once('ready', () => settle(() => resolve(client)));
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.username,
      privateKey: target.privateKey,
      passphrase: target.passphrase,
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
    } catch (error) {
      // Thrown synchronously only for unusable keys (unparseable, wrong or missing passphrase).
      settle(() => {
        client.destroy();
        reject(invalidKeyError(error, target));
      });
    }
  });
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
