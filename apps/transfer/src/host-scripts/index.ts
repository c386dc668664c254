/**
 * The transfer scripts now live in @inno-train/host-protocol (scripts/transfer.sh, rendered by its
 * renderStageInScript and renderStageOutScript). Re-exported here for importers of this module by
 * path (tests/pipeline's hostile-input property test imports apps/transfer/dist/host-scripts).
 */
export {
  checkRelPath,
  parseListOutputs,
  renderListOutputsCommand,
  renderStageInScript,
  renderStageOutScript,
  type ListedOutput,
  type StageInFile,
  type StageInPlan,
  type StageInStatus,
  type StageOutPlan,
  type StageOutStatus,
  type StageOutUpload,
} from '@inno-train/host-protocol';
