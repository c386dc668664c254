export { renderStageInScript, type StageInFile, type StageInPlan, type StageInStatus } from './stage-in';
export { renderStageOutScript, type StageOutPlan, type StageOutStatus, type StageOutUpload } from './stage-out';
export { parseListOutputs, renderListOutputsCommand, type ListedOutput } from './list-outputs';
export { checkRelPath } from './validate';
