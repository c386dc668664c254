export * from './definitions';
export * from './telemetry';
export * from './gauges';
export * from './readers';
export * from './readiness';
export * from './health-server';
