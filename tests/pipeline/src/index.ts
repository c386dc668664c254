export * from './stack';
export * from './processes';
export * from './fixtures';
export * from './s3-helpers';
export * from './jobs';
export * from './redis-server';
export * from './host-chaos';
