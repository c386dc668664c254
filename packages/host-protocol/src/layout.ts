/**
 * Where a job lives on its host (README, "On the host"). Paths are relative to the SSH user's home
 * (commands run there; scripts resolve a relative job directory under $HOME), and every path inside
 * the job directory is relative to it.
 *
 *   ~/inno-train/<jobId>/
 *     inputs/<name>/...   each declared input
 *     config.yaml         the job's config as YAML
 *     <script file>       an inline training script
 *     output/             everything here is uploaded to the job's output URI
 *     checkpoints/        CHECKPOINT_DIR: each top-level entry is one checkpoint
 *     train.log           stdout + stderr of the command
 *     .inno/<task>.*      the host protocol's own files, per task (see taskFiles)
 */
import { InnoError } from '@inno-train/core';

/** The folder under the home that holds every job directory. */
export const HOST_ROOT = 'inno-train';

/** The job directory's entries, relative to it. */
export const JOB_LAYOUT = {
  inputs: 'inputs',
  output: 'output',
  /** CHECKPOINT_DIR: each top-level entry is one checkpoint (synced while training runs). */
  checkpoints: 'checkpoints',
  config: 'config.yaml',
  trainLog: 'train.log',
  /** The host protocol's files: scripts, locks, pids, statuses. */
  meta: '.inno',
} as const;

/** One path segment, no dots: a job id can never reach outside HOST_ROOT. */
const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** `inno-train/<jobId>`, relative to the home. */
export function jobDir(jobId: string): string {
  if (!JOB_ID.test(jobId)) throw new InnoError('invalid_job_id', `Not a job id: ${JSON.stringify(jobId.slice(0, 200))}`);
  return `${HOST_ROOT}/${jobId}`;
}

/** A path inside the job directory, relative to the home (what uploads take). */
export function jobPath(jobId: string, relPath: string): string {
  return `${jobDir(jobId)}/${relPath}`;
}

/** Where input `name` goes, relative to the job directory. */
export function inputDir(name: string): string {
  return `${JOB_LAYOUT.inputs}/${name}`;
}

/**
 * What INPUT_<NAME> points at, relative to the job directory: the file of an object input (its
 * key's last segment, where stage-in puts it), the folder of a prefix input (a URI ending in `/`).
 */
export function inputPath(name: string, uri: string): string {
  return uri.endsWith('/') ? inputDir(name) : `${inputDir(name)}/${uri.split('/').pop() ?? ''}`;
}

/** The environment variable of input `name`. */
export function inputEnvName(name: string): string {
  return `INPUT_${name.toUpperCase()}`;
}
