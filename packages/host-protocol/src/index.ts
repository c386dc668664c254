export { HOST_ROOT, inputDir, inputEnvName, inputPath, jobDir, JOB_LAYOUT, jobPath } from './layout';
export {
  installAndStartCommand,
  installFilesCommand,
  type CommandWithInput,
  type FileToInstall,
  type InstallAndStartOptions,
} from './install';
export { renderScript, scriptSource, SCRIPTS_DIR, type RenderOptions, type ScriptName, type ShellValue } from './render';
export {
  checkTaskCommand,
  HostAnswerError,
  killTaskCommand,
  LOG_MARKER,
  parseProgressLines,
  parseTaskCheck,
  resetTaskCommand,
  startTaskCommand,
  TASK_NAMES,
  taskFiles,
  taskScriptPath,
  waitTaskCommand,
  type KillOptions,
  type TaskWait,
  type LogRead,
  type TaskFiles,
  type TaskName,
  type TaskState,
  type TaskStatus,
} from './task';
export {
  parseTrainingPoll,
  pollTrainingCommand,
  renderTrainScript,
  tailTrainingLogCommand,
  TAIL_END,
  type TailOptions,
  type TrainingJob,
  type TrainingPoll,
} from './training';
export {
  listOutputsCommand,
  listStageOutCommand,
  parseListOutputs,
  parseStageOutListing,
  renderListOutputsCommand,
  type ListedOutput,
} from './transfer/list-outputs';
export {
  stageInResultSchema,
  stageOutResultSchema,
  TRANSFER_FAILURE_KINDS,
  transferProgressFileSchema,
  type StageInStatus,
  type StageOutStatus,
  type TransferProgressFile,
} from './transfer/result';
export {
  downloadPartSize,
  MULTIPART_THRESHOLD_BYTES,
  partCount,
  S3_MAX_PARTS,
  TRANSFER_DEFAULTS,
  uploadPartSize,
  type TransferTuning,
} from './transfer/tuning';
export { renderStageInScript, type StageInFile, type StageInPlan } from './transfer/stage-in';
export { renderStageOutScript, type StageOutPlan, type StageOutUpload } from './transfer/stage-out';
export { checkRelPath } from './transfer/validate';
export {
  CHECKPOINT_MARKER,
  checkpointContentSignature,
  checkpointJobPath,
  checkpointResultFile,
  checkpointSyncScriptPath,
  listCheckpointsCommand,
  parseCheckpointListing,
  parseCheckpointResult,
  readCheckpointResultCommand,
  renderCheckpointSyncScript,
  startCheckpointSyncCommand,
  type CheckpointFile,
  type CheckpointListing,
  type CheckpointUpload,
  type ListedCheckpoint,
} from './checkpoints';
