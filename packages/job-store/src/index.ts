export * from './ids';
export * from './keys';
export * from './job-store';
