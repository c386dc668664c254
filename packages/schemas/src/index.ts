export * from './submission';
export * from './record';
export * from './view';
export * from './cost';
export * from './error-codes';
export * from './api';
export * from './api-error-info';
export * from './readme-tables';
