export * from './uri';
export * from './errors';
export * from './s3-storage';
