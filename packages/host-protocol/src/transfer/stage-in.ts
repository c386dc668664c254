/**
 * Stage-in as a task of the host protocol: transfer.sh in MODE=stage-in, rendered with the plan.
 * The presigned URLs travel only in the uploaded script (never on an SSH command line), and the
 * plan is checked before anything is rendered (validate.ts).
 */
import { renderScript, scriptSource } from '../render';
import { checkByteCount, checkDistinctTargets, checkHostPath, checkParallelism, checkRelPath, checkUrl } from './validate';

export interface StageInFile {
  /** Presigned GET URL. */
  url: string;
  /** Where the file goes, relative to the job directory, e.g. `inputs/train/train.jsonl`. */
  relPath: string;
  /** Expected size in bytes; a download of any other size counts as failed. */
  size: number;
}

export interface StageInPlan {
  /** Absolute, or relative to the SSH user's home (as `inno-train/<jobId>`). */
  jobDir: string;
  files: StageInFile[];
  parallelism: number;
  /**
   * Where the script writes its result (StageInStatus), absolute or relative to the job directory.
   * As the `stage-in` task it is taskFiles('stage-in').result, which the runner embeds in the status.
   */
  statusFile: string;
}

export function renderStageInScript(plan: StageInPlan): string {
  const jobDir = checkHostPath(plan.jobDir, 'jobDir');
  const statusFile = checkHostPath(plan.statusFile, 'statusFile');
  const parallelism = checkParallelism(plan.parallelism);
  const files = plan.files.map((file, index) => ({
    relPath: checkRelPath(file.relPath, `files[${index}].relPath`),
    size: checkByteCount(file.size, `files[${index}].size`),
    url: checkUrl(file.url, `files[${index}].url`),
  }));
  checkDistinctTargets(files.map((file) => file.relPath));
  return renderScript(
    'transfer.sh',
    {
      MODE: 'stage-in',
      JOB_DIR: jobDir,
      RESULT_FILE: statusFile,
      PARALLELISM: parallelism,
      REL: files.map((file) => file.relPath),
      SIZE: files.map((file) => file.size),
      PART_SIZE: [],
      NPARTS: [],
      // One item per file, the whole file (part 0).
      ITEM_FILE: files.map((_, index) => index),
      ITEM_PART: files.map(() => 0),
      ITEM_URL: files.map((file) => file.url),
      RESULT_PY: scriptSource('transfer-result.py'),
    },
    { label: 'stage-in' },
  );
}
