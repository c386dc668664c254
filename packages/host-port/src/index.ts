export type {
  ExecOptions,
  ExecResult,
  HostExecutor,
  HostTarget,
  StreamHandlers,
  StreamOptions,
  StreamResult,
  UploadOptions,
} from './host-executor';
