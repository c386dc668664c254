export { compose, monitorBindings, type MonitorComposeEnv, type MonitorInfrastructure, type MonitorService } from './compose';
export { parseMonitorEnv, monitorEnvShape, type MonitorEnv } from './env';
export { trainStep, type MonitorDeps } from './train-step';
export { latestProgress } from './metrics';
export { renderRunScript } from './host-commands';
