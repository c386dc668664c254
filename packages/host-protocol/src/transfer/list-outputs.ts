/**
 * Listing the job's output directory on the host, before stage-out plans its uploads. Records are
 * `<size>\t<path relative to the directory>\0`: NUL cannot occur in a file name, so names with
 * newlines or tabs survive. Only regular files are listed (`find` does not follow symlinks), so a
 * link to a file elsewhere on the host is never uploaded.
 */
import { InnoError, shellQuote } from '@inno-train/core';
import { z } from 'zod';
import { jobPath, JOB_LAYOUT } from '../layout';
import { checkHostPath, checkRelPath } from './validate';

export interface ListedOutput {
  /** Relative to the listed directory. */
  relPath: string;
  size: number;
}

/** The listing of a job's output/ (relative paths under it). */
export function listOutputsCommand(jobId: string): string {
  return renderListOutputsCommand(jobPath(jobId, JOB_LAYOUT.output));
}

/** A shell command printing every regular file under `outputDir` (nothing if it does not exist). */
export function renderListOutputsCommand(outputDir: string): string {
  checkHostPath(outputDir, 'outputDir');
  // find has no "--": a relative directory starting with "-" would be read as an option.
  const start = outputDir.startsWith('/') ? outputDir : `./${outputDir}`;
  const dir = shellQuote(start);
  return `if [ -d ${dir} ]; then find ${dir} -type f -printf '%s\\t%P\\0'; fi`;
}

/** The record stage-out's listing starts with when the job has a train.log: never a `<size>\t` record. */
const LOG_RECORD = 'log\t';

/**
 * Stage-out's listing: train.log's size as a first record `log\t<size>\0` (only when it is a
 * regular file; a symlink is not followed), then every output as listOutputsCommand lists them.
 * One command, so stage-out still plans with a single SSH call.
 */
export function listStageOutCommand(jobId: string): string {
  const log = shellQuote(`./${jobPath(jobId, JOB_LAYOUT.trainLog)}`);
  // find prints nothing (and fails) for a missing file: the listing after it still decides the exit code.
  return `find ${log} -maxdepth 0 -type f -printf 'log\\t%s\\0' 2>/dev/null; ${listOutputsCommand(jobId)}`;
}

/** Parses listStageOutCommand's output: the outputs, and train.log's size (null: no log file). */
export function parseStageOutListing(stdout: string | Buffer): { outputs: ListedOutput[]; logSize: number | null } {
  const text = typeof stdout === 'string' ? stdout : stdout.toString('utf8');
  if (!text.startsWith(LOG_RECORD)) return { outputs: parseListOutputs(text), logSize: null };
  const end = text.indexOf('\0');
  const size = end < 0 ? '' : text.slice(LOG_RECORD.length, end);
  if (!/^\d+$/.test(size) || !Number.isSafeInteger(Number(size))) {
    throw new InnoError('invalid_listing', `Malformed train.log record ${JSON.stringify(text.slice(0, 40))}`);
  }
  return { outputs: parseListOutputs(text.slice(end + 1)), logSize: Number(size) };
}

/** One record: `<size>\t<relPath>`, the path a legal relative path (it becomes a key and a plan entry). */
const recordSchema = z
  .string()
  .regex(/^\d+\t/, 'not "<size>\\t<path>"')
  .transform((record) => ({ size: Number(record.slice(0, record.indexOf('\t'))), relPath: record.slice(record.indexOf('\t') + 1) }))
  .refine((listed) => Number.isSafeInteger(listed.size), 'size out of range')
  .superRefine((listed, ctx) => {
    try {
      checkRelPath(listed.relPath, 'listed output');
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
    }
  });

/** Parses the command's output. Takes a Buffer too, so names that are not UTF-8 are not mangled twice. */
export function parseListOutputs(stdout: string | Buffer): ListedOutput[] {
  const text = typeof stdout === 'string' ? stdout : stdout.toString('utf8');
  const records = text.split('\0');
  // Every record ends with NUL, so the last piece is what follows the last record: nothing.
  const trailing = records.pop();
  if (trailing !== undefined && trailing.trim() !== '') {
    throw new InnoError('invalid_listing', 'The output listing ended in the middle of a record');
  }
  return records.map((record) => {
    const parsed = recordSchema.safeParse(record);
    if (!parsed.success) {
      throw new InnoError(
        'invalid_listing',
        `Malformed output listing record ${JSON.stringify(record.slice(0, 200))}: ${parsed.error.issues[0]?.message ?? 'unknown'}`,
      );
    }
    return parsed.data;
  });
}
