export * from './submission';
export * from './record';
export * from './view';
export * from './cost';
export * from './error-codes';
export * from './api';
