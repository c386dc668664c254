export * from './url-guard';
export * from './sign';
export * from './store';
export * from './events';
export * from './send';
export * from './service';
export { webhookKeys } from './keys';
