export * from './statuses';
export * from './queues';
export * from './timing';
export * from './catalog';
export * from './error-codes';
export * from './events';
