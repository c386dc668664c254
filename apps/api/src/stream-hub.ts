/**
 * What the live streams of one API process share: the wake-ups of the jobs they follow (one
 * subscriber connection, each job's channel subscribed while a stream of it is open here), the
 * limits on how many are open, and the way to end them all when the process stops.
 */
import type { Logger } from '@inno-train/core';
import { jobChangeChannel, parseJobChange, type JobChange } from '@inno-train/job-store';
import type { Redis } from 'ioredis';

/** The part of an ioredis connection in subscriber mode the hub uses. */
export type Subscriber = Pick<Redis, 'subscribe' | 'unsubscribe' | 'on' | 'off'>;

export interface StreamLimits {
  /** Streams one API process keeps open at most; past it 503, so a client tries another replica. */
  perProcess: number;
  /** Streams of one tenant one API process keeps open at most; past it 429 `too_many_streams`. */
  perTenant: number;
}

export interface StreamTimings {
  /** A comment line (`: ping`) this often keeps proxies and load balancers from closing a quiet stream. */
  heartbeatMs: number;
  /** A stream re-reads its job this often without a wake-up, so a lost notification only delays. */
  pollMs: number;
}

export const DEFAULT_STREAM_LIMITS = { perProcess: 2000, perTenant: 100 } satisfies StreamLimits;
export const DEFAULT_STREAM_TIMINGS = { heartbeatMs: 15_000, pollMs: 3_000 } satisfies StreamTimings;

/** What woke a stream: a part of the job, or `all` (a new subscription, a reconnected subscriber, the timer). */
export type Wake = (change: JobChange | 'all') => void;

export interface StreamHubOptions {
  /**
   * A connection of its own in subscriber mode (ioredis refuses other commands on it), and the job
   * store's namespace. Unset: streams learn of changes only by re-reading every `pollMs`.
   */
  wakeups?: { subscriber: Subscriber; namespace: string };
  limits?: Partial<StreamLimits>;
  timings?: Partial<StreamTimings>;
  logger?: Logger;
}

export type Admission = { release(): void } | 'process_full' | 'tenant_full' | 'closing';

export interface StreamHub {
  readonly timings: StreamTimings;
  readonly limits: StreamLimits;
  /** A place for one more stream of `tenant`, or the limit in the way; `stop` ends the stream when the hub closes. */
  admit(tenant: string, stop: () => void): Admission;
  /**
   * Calls `wake` on each change of the job, and with `all` once its subscription is in place (a
   * write between the stream's first read and then is not missed). Returns the way out.
   */
  watch(jobId: string, wake: Wake): () => void;
  /** Streams open now. */
  openStreams(): number;
  /** Ends every open stream (its client resumes on another replica) and admits no more. */
  close(): void;
}

export function createStreamHub(options: StreamHubOptions = {}): StreamHub {
  const limits = { ...DEFAULT_STREAM_LIMITS, ...options.limits };
  const timings = { ...DEFAULT_STREAM_TIMINGS, ...options.timings };
  const stops = new Set<{ stop: () => void }>();
  const perTenant = new Map<string, number>();
  const watchers = new Map<string, Set<Wake>>();
  const { wakeups, logger } = options;
  let closing = false;

  const onMessage = (channel: string, message: string) => {
    const change = parseJobChange(message) ?? 'all';
    for (const wake of watchers.get(channel) ?? []) wake(change);
  };
  // After a reconnect ioredis subscribes again by itself; what was published meanwhile is lost.
  const onReady = () => {
    for (const set of watchers.values()) for (const wake of set) wake('all');
  };
  wakeups?.subscriber.on('message', onMessage);
  wakeups?.subscriber.on('ready', onReady);

  function subscribe(channel: string, set: Set<Wake>): void {
    wakeups!.subscriber.subscribe(channel).then(
      () => {
        for (const wake of set) wake('all');
      },
      (error: unknown) => {
        if (!closing) logger?.warn({ err: error, channel }, 'stream wake-ups unavailable: streams re-read on their timer');
      },
    );
  }

  return {
    timings,
    limits,
    admit(tenant, stop) {
      if (closing) return 'closing';
      if (stops.size >= limits.perProcess) return 'process_full';
      const open = perTenant.get(tenant) ?? 0;
      if (open >= limits.perTenant) return 'tenant_full';
      const entry = { stop };
      stops.add(entry);
      perTenant.set(tenant, open + 1);
      return {
        release() {
          if (!stops.delete(entry)) return;
          const left = (perTenant.get(tenant) ?? 1) - 1;
          if (left > 0) perTenant.set(tenant, left);
          else perTenant.delete(tenant);
        },
      };
    },
    watch(jobId, wake) {
      if (!wakeups) return () => undefined;
      const channel = jobChangeChannel(wakeups.namespace, jobId);
      let set = watchers.get(channel);
      if (!set) {
        set = new Set();
        watchers.set(channel, set);
        subscribe(channel, set);
      }
      set.add(wake);
      const mine = set;
      return () => {
        mine.delete(wake);
        if (mine.size > 0 || watchers.get(channel) !== mine) return;
        watchers.delete(channel);
        wakeups.subscriber.unsubscribe(channel).catch(() => undefined);
      };
    },
    openStreams: () => stops.size,
    close() {
      closing = true;
      for (const entry of [...stops]) entry.stop();
      wakeups?.subscriber.off('message', onMessage);
      wakeups?.subscriber.off('ready', onReady);
    },
  };
}
