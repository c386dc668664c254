export { compose, transferBindings, type TransferComposeEnv, type TransferInfrastructure, type TransferService } from './compose';
export { parseTransferEnv, transferEnvShape, type TransferEnv } from './env';
export { stageInStep, type TransferDeps } from './stage-in';
export { stageOutStep } from './stage-out';
