export * from './ids';
export * from './keys';
export * from './job-store';
export type { ListOptions, ListPage } from './list';
export {
  createMetricsStore,
  type AppendOutcome,
  type MetricRecord,
  type MetricsPage,
  type MetricsStore,
  type MetricsStoreOptions,
} from './metrics';
