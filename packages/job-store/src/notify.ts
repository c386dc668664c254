import type { Redis } from 'ioredis';

/**
 * Wake-ups for readers that follow a job live (the API's event streams). After each write the store
 * PUBLISHes, on the job's own channel, which part of the job changed: `job` (the record or its
 * events) or `log`. The message names the part, never its content: a reader re-reads the record,
 * the events and the log from Redis, which stay the only truth. Pub/sub delivers at most once, so a
 * reader also re-reads on a slow timer: a notification lost (a subscriber reconnecting) only delays.
 *
 * One channel per job rather than one for all: PUBLISH to a channel nobody follows costs next to
 * nothing, and an API replica receives only the wake-ups of the jobs its clients follow.
 */
export const JOB_CHANGES = ['job', 'log'] as const;
export type JobChange = (typeof JOB_CHANGES)[number];

/** The channel of one job's wake-ups. Channels hold nothing: there is no key to delete. */
export function jobChangeChannel(namespace: string, id: string): string {
  return `${namespace}:job-changed:${id}`;
}

/** A wake-up as published, or null for anything else (a newer writer's kind counts as a whole re-read). */
export function parseJobChange(message: string): JobChange | null {
  return (JOB_CHANGES as readonly string[]).includes(message) ? (message as JobChange) : null;
}

/**
 * Publishes without waiting: a writer never waits on, nor fails because of, a wake-up. It is sent
 * on the writer's connection after its write, so Redis applies the write first and a reader woken
 * by it finds the change.
 */
export function publishJobChange(redis: Pick<Redis, 'publish'>, namespace: string, id: string, change: JobChange): void {
  redis.publish(jobChangeChannel(namespace, id), change).catch(() => undefined);
}
