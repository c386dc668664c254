/**
 * Stage-out as a task of the host protocol: transfer.sh in MODE=stage-out, carrying the transfer
 * engine and the plan (one PUT per small file, presigned UploadPart requests for each part of a
 * large one, sent in parallel over the plan's connections).
 */
import { renderScript } from '../render';
import { engineSource } from './engine';
import { stripUndefined } from './stage-in';
import { TRANSFER_DEFAULTS, type TransferTuning } from './tuning';
import { checkByteCount, checkConnections, checkDistinctTargets, checkHostPath, checkRelPath, checkUrl, planError } from './validate';

export type StageOutUpload =
  | { kind: 'put'; relPath: string; url: string; size?: number }
  | {
      kind: 'multipart';
      relPath: string;
      partSize: number;
      parts: { partNumber: number; url: string }[];
      /** The multipart upload's id: parts journalled under it are not sent again by a restart. */
      uploadId?: string;
      size?: number;
    };

export interface StageOutPlan extends Partial<Pick<TransferTuning, 'stallSeconds' | 'attempts'>> {
  /** Absolute, or relative to the SSH user's home. */
  jobDir: string;
  /**
   * Where the script writes its result (StageOutStatus), absolute or relative to the job directory.
   * As the `stage-out` task it is taskFiles('stage-out').result, which the runner embeds in the status.
   */
  statusFile: string;
  /** Requests in flight at once, for the whole stage: the engine's worker threads. */
  connections: number;
  /** relPath is relative to the job directory, e.g. `output/model.bin`. */
  uploads: StageOutUpload[];
  /** Where the engine rewrites its progress every half second; none if absent. */
  progressFile?: string;
  /**
   * Where parts that went up are journalled (upload id, part, size, ETag), relative to the job
   * directory; a run of the same uploads skips them. Absent: no journal.
   */
  journalFile?: string;
}

const MAX_PARTS = 10_000;

/** Part numbers must be exactly 1..n: the script cuts part k at offset (k - 1) * partSize. */
function checkParts(upload: Extract<StageOutUpload, { kind: 'multipart' }>, where: string): { partNumber: number; url: string }[] {
  checkByteCount(upload.partSize, `${where}.partSize`, 1);
  if (!Array.isArray(upload.parts) || upload.parts.length === 0 || upload.parts.length > MAX_PARTS) {
    throw planError(`${where}.parts must list 1 to ${MAX_PARTS} parts`);
  }
  const sorted = [...upload.parts].sort((a, b) => a.partNumber - b.partNumber);
  sorted.forEach((part, index) => {
    if (part.partNumber !== index + 1) throw planError(`${where}.parts must be numbered 1 to ${sorted.length} without gaps or repeats`);
    checkUrl(part.url, `${where}.parts[${index}].url`);
  });
  return sorted;
}

export function renderStageOutScript(plan: StageOutPlan): string {
  const jobDir = checkHostPath(plan.jobDir, 'jobDir');
  const statusFile = checkHostPath(plan.statusFile, 'statusFile');
  const connections = checkConnections(plan.connections);
  const tuning = { ...TRANSFER_DEFAULTS, ...stripUndefined(plan) };
  const uploads = plan.uploads.map((upload, file) => {
    const where = `uploads[${file}]`;
    const relPath = checkRelPath(upload.relPath, `${where}.relPath`);
    const size = upload.size === undefined ? {} : { size: checkByteCount(upload.size, `${where}.size`) };
    if (upload.kind === 'put') return { kind: 'put', relPath, url: checkUrl(upload.url, `${where}.url`), ...size };
    if (upload.kind !== 'multipart') throw planError(`${where}.kind must be "put" or "multipart"`);
    const parts = checkParts(upload, where);
    if (upload.uploadId !== undefined && (typeof upload.uploadId !== 'string' || upload.uploadId === '')) {
      throw planError(`${where}.uploadId must be a non-empty string`);
    }
    return {
      kind: 'multipart',
      relPath,
      partSize: upload.partSize,
      parts,
      ...(upload.uploadId ? { uploadId: upload.uploadId } : {}),
      ...size,
    };
  });
  checkDistinctTargets(uploads.map((upload) => upload.relPath));
  const engine = {
    mode: 'stage-out',
    jobDir,
    resultFile: statusFile,
    ...(plan.progressFile ? { progressFile: checkHostPath(plan.progressFile, 'progressFile') } : {}),
    ...(plan.journalFile ? { journalFile: checkHostPath(plan.journalFile, 'journalFile') } : {}),
    connections,
    stallSeconds: tuning.stallSeconds,
    attempts: tuning.attempts,
    uploads,
  };
  return renderScript(
    'transfer.sh',
    {
      MODE: 'stage-out',
      JOB_DIR: jobDir,
      RESULT_FILE: statusFile,
      PLAN_JSON: JSON.stringify(engine),
      ENGINE_PY: engineSource(),
    },
    { label: 'stage-out' },
  );
}
