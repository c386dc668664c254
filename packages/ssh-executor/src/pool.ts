/**
 * The executor's shared connections: one authenticated SSH connection per (host, port, user, key,
 * pinned host key), on which every call opens its own channel. See executor.ts for why.
 *
 * A connection leaves the pool the moment ssh2 reports its end, reset, error or unanswered
 * keepalives; the next call simply opens a new one. Idle connections close after idleCloseMs.
 */
import { createHash } from 'node:crypto';
import type { Client } from 'ssh2';
import { closeConnection, openConnection, untilAborted } from './connection';
import { executorClosedError } from './errors';
import { normalizeFingerprint } from './fingerprint';
import type { SshConnectionRecord, SshTarget } from './types';

export interface PoolSettings {
  readyTimeoutMs: number;
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
  idleCloseMs: number;
  maxChannelsPerConnection: number;
  onHostKey: (target: SshTarget, fingerprint: string) => void;
  onConnection: ((record: SshConnectionRecord) => void) | undefined;
}

/** One channel slot on a pooled connection; `release` it once the call's channel is done. */
export interface Lease {
  client: Client;
  /** False once the connection ended, failed or was closed: it is out of the pool for good. */
  isAlive(): boolean;
  /** True when close() ended the connection: its calls fail, they are not run again elsewhere. */
  closedByClose(): boolean;
  release(): void;
}

interface Pooled {
  key: string;
  client: Client;
  channels: number;
  alive: boolean;
  closedByClose: boolean;
  idleTimer: NodeJS.Timeout | undefined;
  /** Settles when the socket is closed. */
  closed: Promise<void>;
}

/** A connect in progress that every caller of the same key waits on (one login, not one each). */
interface Opening {
  promise: Promise<void>;
  controller: AbortController;
  waiting: number;
}

export class ConnectionPool {
  private readonly live = new Map<string, Pooled>();
  private readonly opening = new Map<string, Opening>();
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(private readonly settings: PoolSettings) {}

  /**
   * A channel slot on the target's connection, opening one if none is live. Calls beyond
   * maxChannelsPerConnection wait here for a slot, within their own deadline (`signal`): a second
   * connection would mean a second login, which is what the pool is for saving, and sshd throttles
   * concurrent unauthenticated connections (MaxStartups) more than it does channels. Our calls are
   * short, so a slot frees within seconds.
   */
  async acquire(target: SshTarget, signal: AbortSignal): Promise<Lease> {
    const key = poolKey(target);
    for (;;) {
      if (signal.aborted) {
        // A wake-up this caller no longer uses goes to the next waiter.
        this.wake(key);
        throw signal.reason;
      }
      const conn = this.live.get(key);
      if (!conn) await this.join(key, target, signal);
      else if (conn.channels < this.settings.maxChannelsPerConnection) return this.lease(conn);
      else await this.waitForSlot(key, signal);
    }
  }

  /** Closes every pooled connection (and aborts connects under way); calls after it open new ones. */
  async close(): Promise<void> {
    const openings = [...this.opening.values()];
    for (const opening of openings) opening.controller.abort(executorClosedError());
    await Promise.allSettled(openings.map((opening) => opening.promise));
    const conns = [...this.live.values()];
    for (const conn of conns) {
      if (conn.alive) conn.closedByClose = true;
      this.drop(conn);
    }
    await Promise.all(conns.map((conn) => conn.closed));
  }

  /** Live connections (for tests and metrics). */
  size(): number {
    return this.live.size;
  }

  private lease(conn: Pooled): Lease {
    conn.channels++;
    clearTimeout(conn.idleTimer);
    conn.idleTimer = undefined;
    let released = false;
    return {
      client: conn.client,
      isAlive: () => conn.alive,
      closedByClose: () => conn.closedByClose,
      release: () => {
        if (released) return;
        released = true;
        conn.channels--;
        this.wake(conn.key);
        if (conn.channels === 0) this.startIdle(conn);
      },
    };
  }

  /** Waits for the key's connect (starting it if nobody has); each caller may give up on its own. */
  private async join(key: string, target: SshTarget, signal: AbortSignal): Promise<void> {
    const opening = this.opening.get(key) ?? this.open(key, target);
    opening.waiting++;
    try {
      await untilAborted(opening.promise, signal);
    } finally {
      opening.waiting--;
      // Nobody wants this connection any more: stop the handshake instead of leaving it running.
      if (opening.waiting === 0 && signal.aborted) opening.controller.abort(signal.reason);
    }
  }

  private open(key: string, target: SshTarget): Opening {
    const controller = new AbortController();
    const started = Date.now();
    const promise = openConnection(target, {
      readyTimeoutMs: this.settings.readyTimeoutMs,
      keepaliveIntervalMs: this.settings.keepaliveIntervalMs,
      keepaliveCountMax: this.settings.keepaliveCountMax,
      signal: controller.signal,
      onHostKey: (fingerprint) => this.settings.onHostKey(target, fingerprint),
    })
      .then(
        (client) => {
          this.report(target, started, undefined);
          this.adopt(key, client);
        },
        (error: unknown) => {
          this.report(target, started, error);
          throw error;
        },
      )
      .finally(() => this.opening.delete(key));
    // Each waiter sees the rejection through its own await; this one only keeps Node quiet.
    promise.catch(() => undefined);
    const opening: Opening = { promise, controller, waiting: 0 };
    this.opening.set(key, opening);
    return opening;
  }

  private adopt(key: string, client: Client): void {
    const conn: Pooled = {
      key,
      client,
      channels: 0,
      alive: true,
      closedByClose: false,
      idleTimer: undefined,
      closed: new Promise((resolve) => client.once('close', () => resolve())),
    };
    // Every call on the connection watches it (close, end, error): up to the cap at once.
    client.setMaxListeners(4 * this.settings.maxChannelsPerConnection + 10);
    // Any error counts: ssh2 ends the connection after socket errors and failed keepalives, and a
    // connection in an unknown state must not carry the next command.
    const gone = () => this.drop(conn);
    client.on('error', gone);
    client.once('end', gone);
    client.once('close', gone);
    this.live.set(key, conn);
    this.startIdle(conn);
  }

  /** Takes the connection out of the pool and closes it; calls riding on it see it end. */
  private drop(conn: Pooled): void {
    if (!conn.alive) return;
    conn.alive = false;
    clearTimeout(conn.idleTimer);
    if (this.live.get(conn.key) === conn) this.live.delete(conn.key);
    closeConnection(conn.client);
    // Waiters for a slot on it now need a new connection.
    this.wake(conn.key, true);
  }

  private startIdle(conn: Pooled): void {
    if (!conn.alive) return;
    clearTimeout(conn.idleTimer);
    conn.idleTimer = setTimeout(() => {
      if (conn.channels === 0) this.drop(conn);
    }, this.settings.idleCloseMs);
    // An idle connection is no reason to keep a process alive (close() ends its socket too).
    conn.idleTimer.unref();
  }

  private waitForSlot(key: string, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const queue = this.waiters.get(key) ?? new Set<() => void>();
      this.waiters.set(key, queue);
      const leave = () => {
        queue.delete(wake);
        if (queue.size === 0 && this.waiters.get(key) === queue) this.waiters.delete(key);
        signal.removeEventListener('abort', onAbort);
      };
      const wake = () => {
        leave();
        resolve();
      };
      const onAbort = () => {
        leave();
        reject(signal.reason);
      };
      queue.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Wakes the longest waiting caller of `key` (or all of them); each then looks again. */
  private wake(key: string, all = false): void {
    const queue = this.waiters.get(key);
    if (!queue) return;
    for (const wake of [...queue]) {
      wake();
      if (!all) return;
    }
  }

  private report(target: SshTarget, started: number, failure: unknown): void {
    if (!this.settings.onConnection) return;
    const record: SshConnectionRecord = { host: target.host, port: target.port, ms: Date.now() - started, ok: failure === undefined };
    const code = (failure as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string') record.errorCode = code;
    try {
      this.settings.onConnection(record);
    } catch {
      // Accounting must never break a host call.
    }
  }
}

/**
 * Connections are shared only between calls that would have opened the very same one. The pinned
 * fingerprint is part of the key, so a pinned call never rides a connection that was checked
 * against another pin (or none); the key material is hashed, never kept as text.
 */
export function poolKey(target: SshTarget): string {
  const secret = createHash('sha256')
    .update(target.privateKey)
    .update('\0')
    .update(target.passphrase ?? '')
    .digest('hex');
  const pin = target.hostKeyFingerprint === undefined ? '-' : normalizeFingerprint(target.hostKeyFingerprint);
  return JSON.stringify([target.host, target.port, target.username, secret, pin]);
}
