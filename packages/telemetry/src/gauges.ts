import type { Logger } from '@inno-train/core';
import { Gauge } from 'prom-client';
import { METRICS, type MetricKey } from './definitions';
import { labelValue, type Telemetry } from './telemetry';

/** Counts read from Redis at scrape time. */
export interface StoreReaders {
  /** Jobs by status. */
  jobCounts(): Promise<Record<string, number>>;
  /** BullMQ jobs by queue, then by state. */
  queueCounts(): Promise<Record<string, Record<string, number>>>;
  /** This installation's instances by cloud status. */
  instanceCounts(): Promise<Record<string, number>>;
}

type Setter = (gauge: Gauge<string>) => Promise<void>;

/**
 * The gauges read from Redis when scraped. They describe the whole installation, not this process,
 * so ONE kind of process serves them (the API, or the all-in-one): every replica serving them would
 * make `sum()` count each job once per replica. A failed read leaves the gauge empty for that scrape
 * (a gap on the dashboard, not a wrong zero) and counts inno_scrape_errors_total.
 */
export function registerStoreGauges(telemetry: Telemetry, readers: StoreReaders, logger: Logger): void {
  const gauge = (key: MetricKey, set: Setter) => {
    const def = METRICS[key];
    const metric: Gauge<string> = new Gauge({
      name: def.name,
      help: def.help,
      labelNames: [...def.labels],
      registers: [telemetry.registry],
      async collect() {
        metric.reset();
        try {
          await set(metric);
        } catch (err) {
          metric.reset();
          telemetry.countScrapeError(def.name);
          logger.warn({ err, metric: def.name }, `Reading ${def.name} for a scrape failed; it is left empty this time`);
        }
      },
    });
  };
  gauge('jobs', async (metric) => {
    for (const [status, count] of Object.entries(await readers.jobCounts())) metric.set({ status: labelValue(status) }, count);
  });
  gauge('queueJobs', async (metric) => {
    for (const [queue, states] of Object.entries(await readers.queueCounts())) {
      for (const [state, count] of Object.entries(states)) metric.set({ queue: labelValue(queue), state: labelValue(state) }, count);
    }
  });
  gauge('instances', async (metric) => {
    for (const [status, count] of Object.entries(await readers.instanceCounts())) metric.set({ status: labelValue(status) }, count);
  });
}
