export * from './queues';
export * from './step-worker';
export * from './transitions';
export * from './redis';
export * from './host';
export * from './worker-app';
export * from './runtime';
export * from './host-health';
