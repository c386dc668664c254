/**
 * Stage-in as a task of the host protocol: transfer.sh in MODE=stage-in, carrying the transfer
 * engine (scripts/transfer.py) and the plan. The presigned URLs travel only in the uploaded script
 * (never on an SSH command line), and the plan is checked before anything is rendered (validate.ts).
 */
import { renderScript } from '../render';
import { engineSource } from './engine';
import { downloadPartSize, TRANSFER_DEFAULTS, type TransferTuning } from './tuning';
import { checkByteCount, checkConnections, checkDistinctTargets, checkHostPath, checkRelPath, checkUrl, planError } from './validate';

export interface StageInFile {
  /** Presigned GET URL. */
  url: string;
  /** Where the file goes, relative to the job directory, e.g. `inputs/train/train.jsonl`. */
  relPath: string;
  /** Expected size in bytes; a download of any other size counts as failed. */
  size: number;
  /** MD5 as hex, when S3's ETag is one (a single-part upload without KMS): the file is checked against it. */
  md5?: string;
  /** S3's full-object ChecksumSHA256 (base64), when it publishes one: the file is checked against it. */
  sha256?: string;
  /** The object's ETag as listed: a restart resumes a partial download only of the same object. */
  etag?: string;
}

export interface StageInPlan extends Partial<TransferTuning> {
  /** Absolute, or relative to the SSH user's home (as `inno-train/<jobId>`). */
  jobDir: string;
  files: StageInFile[];
  /** Requests in flight at once, for the whole stage: the engine's worker threads. */
  connections: number;
  /**
   * Where the script writes its result (StageInStatus), absolute or relative to the job directory.
   * As the `stage-in` task it is taskFiles('stage-in').result, which the runner embeds in the status.
   */
  statusFile: string;
  /** Where the engine rewrites its progress (TransferProgressFile) every half second; none if absent. */
  progressFile?: string;
}

const MD5_HEX = /^[0-9a-f]{32}$/;
const SHA256_BASE64 = /^[A-Za-z0-9+/]{43}=$/;

function checkFile(file: StageInFile, index: number, connections: number, tuning: TransferTuning) {
  const where = `files[${index}]`;
  const size = checkByteCount(file.size, `${where}.size`);
  if (file.md5 !== undefined && !MD5_HEX.test(file.md5)) throw planError(`${where}.md5 must be 32 lowercase hex digits`);
  if (file.sha256 !== undefined && !SHA256_BASE64.test(file.sha256)) throw planError(`${where}.sha256 must be a base64 SHA-256`);
  return {
    relPath: checkRelPath(file.relPath, `${where}.relPath`),
    size,
    url: checkUrl(file.url, `${where}.url`),
    partSize: downloadPartSize(size, connections, tuning),
    ...(file.md5 ? { md5: file.md5 } : {}),
    ...(file.sha256 ? { sha256: file.sha256 } : {}),
    ...(file.etag ? { etag: String(file.etag) } : {}),
  };
}

export function renderStageInScript(plan: StageInPlan): string {
  const jobDir = checkHostPath(plan.jobDir, 'jobDir');
  const statusFile = checkHostPath(plan.statusFile, 'statusFile');
  const connections = checkConnections(plan.connections);
  const tuning: TransferTuning = { ...TRANSFER_DEFAULTS, ...stripUndefined(plan) };
  const files = plan.files.map((file, index) => checkFile(file, index, connections, tuning));
  checkDistinctTargets(files.map((file) => file.relPath));
  const engine = {
    mode: 'stage-in',
    jobDir,
    resultFile: statusFile,
    ...(plan.progressFile ? { progressFile: checkHostPath(plan.progressFile, 'progressFile') } : {}),
    connections,
    stallSeconds: tuning.stallSeconds,
    attempts: tuning.attempts,
    verifyAttempts: tuning.verifyAttempts,
    files,
  };
  return renderScript(
    'transfer.sh',
    {
      MODE: 'stage-in',
      JOB_DIR: jobDir,
      RESULT_FILE: statusFile,
      PLAN_JSON: JSON.stringify(engine),
      ENGINE_PY: engineSource(),
    },
    { label: 'stage-in' },
  );
}

/** The tuning fields a plan set (an explicit undefined must not hide a default). */
export function stripUndefined(plan: Partial<TransferTuning>): Partial<TransferTuning> {
  const out: Partial<TransferTuning> = {};
  for (const key of Object.keys(TRANSFER_DEFAULTS) as (keyof TransferTuning)[]) {
    const value = plan[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
