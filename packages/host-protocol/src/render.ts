/**
 * Host scripts are real files in this package's `scripts/` folder (shipped with it, read at run
 * time, checked by shellcheck like every tracked *.sh). Each one starts with a data block:
 *
 *   # ---- data (rendered: src/render.ts replaces these lines; the values here are examples) ----
 *   NAME=example
 *   LIST=(example)
 *   # ---- end of data ----
 *
 * Rendering replaces the example values with the real ones, every value through shellQuote, and
 * leaves the rest of the file, the static script, exactly as it is. Data never becomes code: the
 * one piece of code a rendered script holds that is not ours is a training job's command, which is
 * code by design and travels as a quoted string too (see train-wrapper.sh).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportLines, shellQuote } from '@inno-train/core';

/** Where the scripts are: beside `src/` and `dist/` alike. */
export const SCRIPTS_DIR = join(__dirname, '..', 'scripts');

export type ScriptName =
  | 'run-task.sh'
  | 'start-task.sh'
  | 'check-task.sh'
  | 'kill-task.sh'
  | 'train-wrapper.sh'
  | 'transfer.sh'
  | 'transfer.py'
  | 'transfer-in.py'
  | 'transfer-out.py'
  | 'wait-task.sh'
  | 'checkpoints.sh'
  | 'tail-log.sh'
  | 'install-files.py';

/** A value of the data block: a string (quoted), a whole number, or a bash array of them. */
export type ShellValue = string | number | readonly (string | number)[];

const DATA_BEGIN = /^# ---- data \(rendered: [^\n]*\) ----$/;
const DATA_END = '# ---- end of data ----';
/** `NAME=...` lines of a data block (exports are the job's own and are not named in the file). */
const ASSIGNMENT = /^([A-Z][A-Z0-9_]*)=/;

const sources = new Map<ScriptName, string>();

/** The text of a script, read once. */
export function scriptSource(name: ScriptName): string {
  let text = sources.get(name);
  if (text === undefined) {
    text = readFileSync(join(SCRIPTS_DIR, name), 'utf8');
    sources.set(name, text);
  }
  return text;
}

export interface RenderOptions {
  /** What the rendering is for (the task's name): it names the data block, for whoever reads the script on the host. */
  label: string;
  /** `export KEY=value` lines after the named values (the training job's env), through exportLines. */
  exports?: Record<string, string>;
}

/**
 * The script with its data block filled in. `data` must name exactly the variables the file's
 * block names (a mismatch is a bug here, not bad input, and throws). A NUL in any value throws
 * (shellQuote): it cannot be passed to a shell and is never truncated silently.
 */
export function renderScript(name: ScriptName, data: Record<string, ShellValue>, options: RenderOptions): string {
  const lines = scriptSource(name).split('\n');
  const begin = lines.findIndex((line) => DATA_BEGIN.test(line));
  const end = lines.indexOf(DATA_END);
  if (begin < 0 || end < begin) throw new Error(`${name} has no data block`);
  const declared = lines.slice(begin + 1, end).flatMap((line) => ASSIGNMENT.exec(line)?.[1] ?? []);
  const given = Object.keys(data);
  const missing = declared.filter((key) => !given.includes(key));
  const unknown = given.filter((key) => !declared.includes(key));
  if (missing.length > 0 || unknown.length > 0) {
    throw new Error(
      `Data for ${name} does not match its data block (missing: ${missing.join(', ') || 'none'}; unknown: ${unknown.join(', ') || 'none'})`,
    );
  }
  const block = [
    `# ---- data of ${name} for ${options.label} ----`,
    ...declared.map((key) => assignment(key, data[key]!)),
    ...(options.exports && Object.keys(options.exports).length > 0 ? [exportLines(options.exports)] : []),
    DATA_END,
  ];
  return [...lines.slice(0, begin), ...block, ...lines.slice(end + 1)].join('\n');
}

function assignment(key: string, value: ShellValue): string {
  if (typeof value === 'string' || typeof value === 'number') return `${key}=${word(value, key)}`;
  if (value.length === 0) return `${key}=()`;
  return [`${key}=(`, ...value.map((item) => `  ${word(item, key)}`), ')'].join('\n');
}

function word(value: string | number, key: string): string {
  if (typeof value === 'string') return shellQuote(value);
  if (!Number.isSafeInteger(value)) throw new Error(`${key} must hold whole numbers, got ${value}`);
  return String(value);
}
