export { createApp, BULL_BOARD_PATH, type ApiDeps } from './app';
export { compose, type ApiComposeEnv, type ApiInfrastructure, type ApiService } from './compose';
export { parseApiEnv, apiEnvShape, type ApiEnv } from './env';
export { submitJob } from './submit';
export { redisRateCounter, type RateCounter } from './guard';
