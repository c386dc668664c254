export type { ExecOptions, ExecResult, HostExecutor, HostTarget, UploadOptions } from './host-executor';
