import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import type { Logger } from '@inno-train/core';

export interface ScheduleOptions<T> {
  connection: ConnectionOptions;
  prefix: string;
  /** The BullMQ queue (one per schedule) and its scheduler's name. */
  queue: string;
  everyMs: number;
  logger: Logger;
  run: () => Promise<T>;
}

/**
 * Runs `run` every `everyMs` on a BullMQ job scheduler. Every replica upserts the same scheduler
 * (one schedule, not one per replica) and the queue's global concurrency of 1 keeps runs from
 * overlapping; a failed run is logged and the next one tries again.
 */
export async function startSchedule<T>(options: ScheduleOptions<T>) {
  const queue = new Queue(options.queue, {
    connection: options.connection,
    prefix: options.prefix,
    defaultJobOptions: { removeOnComplete: 100, removeOnFail: 100 },
  });
  queue.on('error', () => undefined);
  await queue.setGlobalConcurrency(1);
  await queue.upsertJobScheduler(`${options.queue}-every`, { every: options.everyMs }, { name: options.queue, data: {} });
  const worker = new Worker(options.queue, () => options.run(), { connection: options.connection, prefix: options.prefix, concurrency: 1 });
  worker.on('error', (err) => options.logger.error({ err, schedule: options.queue }, `${options.queue} error`));
  worker.on('failed', (_job, err) =>
    options.logger.warn({ err, schedule: options.queue }, `${options.queue} run failed; the next run will try again`),
  );
  return {
    worker,
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}
