export * from './ids';
export * from './keys';
export * from './job-store';
export type { ListOptions, ListPage } from './list';
