export * from './statuses';
export * from './queues';
export * from './timing';
