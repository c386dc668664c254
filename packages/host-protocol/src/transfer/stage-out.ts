/**
 * Stage-out as a task of the host protocol: transfer.sh in MODE=stage-out, rendered with the plan
 * (one PUT per small file, presigned UploadPart requests for each part of a large one).
 */
import { renderScript, scriptSource } from '../render';
import { checkByteCount, checkDistinctTargets, checkHostPath, checkParallelism, checkRelPath, checkUrl, planError } from './validate';

export type StageOutUpload =
  | { kind: 'put'; relPath: string; url: string }
  | { kind: 'multipart'; relPath: string; partSize: number; parts: { partNumber: number; url: string }[] };

export interface StageOutPlan {
  /** Absolute, or relative to the SSH user's home. */
  jobDir: string;
  /**
   * Where the script writes its result (StageOutStatus), absolute or relative to the job directory.
   * As the `stage-out` task it is taskFiles('stage-out').result, which the runner embeds in the status.
   */
  statusFile: string;
  parallelism: number;
  /** relPath is relative to the job directory, e.g. `output/model.bin`. */
  uploads: StageOutUpload[];
}

const MAX_PARTS = 10_000;

interface Item {
  file: number;
  part: number;
  url: string;
}

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
  const parallelism = checkParallelism(plan.parallelism);
  const rel: string[] = [];
  const partSize: number[] = [];
  const nparts: number[] = [];
  const items: Item[] = [];
  plan.uploads.forEach((upload, file) => {
    const where = `uploads[${file}]`;
    rel.push(checkRelPath(upload.relPath, `${where}.relPath`));
    if (upload.kind === 'put') {
      partSize.push(0);
      nparts.push(0);
      items.push({ file, part: 0, url: checkUrl(upload.url, `${where}.url`) });
    } else if (upload.kind === 'multipart') {
      const parts = checkParts(upload, where);
      partSize.push(upload.partSize);
      nparts.push(parts.length);
      for (const part of parts) items.push({ file, part: part.partNumber, url: part.url });
    } else {
      throw planError(`${where}.kind must be "put" or "multipart"`);
    }
  });
  checkDistinctTargets(rel);
  return renderScript(
    'transfer.sh',
    {
      MODE: 'stage-out',
      JOB_DIR: jobDir,
      RESULT_FILE: statusFile,
      PARALLELISM: parallelism,
      REL: rel,
      SIZE: [],
      PART_SIZE: partSize,
      NPARTS: nparts,
      ITEM_FILE: items.map((item) => item.file),
      ITEM_PART: items.map((item) => item.part),
      ITEM_URL: items.map((item) => item.url),
      RESULT_PY: scriptSource('transfer-result.py'),
    },
    { label: 'stage-out' },
  );
}
