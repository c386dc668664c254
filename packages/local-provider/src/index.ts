export * from './local-executor';
export * from './local-provider';
