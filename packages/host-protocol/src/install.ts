/**
 * A stage start in one SSH round trip: the files the task needs (its script, the job's config) ride
 * on the command's stdin and are written by scripts/install-files.py, atomically each, before the
 * rest of the command runs. Uploading each over SFTP cost a channel, an SFTP session and six
 * requests per file.
 */
import { shellQuote } from '@inno-train/core';
import { scriptSource } from './render';
import { resetTaskCommand, startTaskCommand, type TaskName } from './task';

export interface FileToInstall {
  /** Relative to the login directory (jobPath); its directory must exist by the time it is written. */
  path: string;
  content: string | Buffer;
  mode: number;
}

/** A command and the bytes for its stdin. */
export interface CommandWithInput {
  command: string;
  stdin: Buffer;
}

/** Writes `files` (python3 on the host, as the transfer scripts already need). Exits non-zero if any could not be. */
export function installFilesCommand(files: readonly FileToInstall[]): CommandWithInput {
  const contents = files.map((file) => (Buffer.isBuffer(file.content) ? file.content : Buffer.from(file.content, 'utf8')));
  const manifest = files.map((file, i) => ({ path: file.path, size: contents[i]!.length, mode: file.mode }));
  return {
    command: `python3 -c ${shellQuote(scriptSource('install-files.py'))} ${shellQuote(JSON.stringify(manifest))}`,
    stdin: Buffer.concat(contents),
  };
}

export interface InstallAndStartOptions {
  /** Create the job directory's layout first (the first stage on a host). */
  createLayout?: boolean;
  /**
   * Forget the task's earlier status first, so the start runs it again (default true). Training
   * says false: once its command has ended, a rerun of its start must stay a no-op.
   */
  reset?: boolean;
}

/**
 * Forgets the task's earlier status (resetTaskCommand; unless `reset: false`), writes its files, then starts it
 * (startTaskCommand, which answers `started`). A step of it that fails ends the command with a
 * non-zero exit before the start, so nothing starts with missing files; run again, it does it all again.
 */
export function installAndStartCommand(
  jobId: string,
  task: TaskName,
  files: readonly FileToInstall[],
  options: InstallAndStartOptions = {},
): CommandWithInput {
  const install = installFilesCommand(files);
  const reset =
    options.reset === false ? [] : [`${resetTaskCommand(jobId, task, { createLayout: options.createLayout === true })} || exit 1`];
  const command = [...reset, `${install.command} || exit 1`, startTaskCommand(jobId, task)].join('\n');
  return { command, stdin: install.stdin };
}
