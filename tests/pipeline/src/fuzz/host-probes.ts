/**
 * Checks on a real host over SSH that hostile input ran nothing: canary files, the home and /tmp
 * listings; and the round trips the properties make (a quoted argument, the run wrapper, the
 * stage-in script), each reading back what arrived with a fixed command.
 */
import { renderRunScript } from '@inno-train/monitor';
import { shellQuote, type SshExecutor, type SshTarget } from '@inno-train/ssh-executor';
import { jobRecord } from './job-records';

/** The host the properties run on, and what its home and /tmp held before any case ran. */
export interface HostUnderTest {
  ssh: SshExecutor;
  target: SshTarget;
  /** What `LISTING` showed before any case ran: an injected command would add to it. */
  baselineListing: string;
}

/** Fixed command: what exists in the home and /tmp, hidden files included. */
export const LISTING = 'ls -A ~ /tmp';

/**
 * Fixed command: no canary may exist. One found is reported and removed, so the next case starts
 * clean and shrinking blames the case that made it. Lanes run at once, so each lane's payloads name
 * their own canary (see forLane) and a lane only looks at its own and the plain ones.
 */
export function canaryCheck(lane?: number): string {
  const names = ['canary', ...(lane === undefined ? [] : [`canary-L${lane}`])];
  const paths = names.flatMap((name) => [`~/${name}`, `/tmp/${name}`]).join(' ');
  return `for f in ${paths}; do if test -e "$f"; then echo "CANARY $f"; rm -rf "$f"; fi; done; echo checked`;
}
const CANARY_CHECK = canaryCheck();
/** What canaryCheck prints when it found nothing. */
export const NO_CANARY = 'checked\n';

export function utf8(value: string): Buffer {
  return Buffer.from(value, 'utf8');
}

export function describeBytes(value: string): string {
  const shown = value.length > 300 ? `${JSON.stringify(value.slice(0, 300))}... (${value.length} chars)` : JSON.stringify(value);
  return shown;
}

/** Fails with what was found when a canary exists or the home or /tmp gained anything unexpected. */
export async function assertNoInjection(h: HostUnderTest, allowed: string[] = []): Promise<void> {
  const canary = await h.ssh.exec(h.target, CANARY_CHECK);
  if (canary.stdout !== NO_CANARY) throw new Error(`an injected command ran: ${canary.stdout}`);
  const listing = (await h.ssh.exec(h.target, LISTING)).stdout;
  const extra = listing.split('\n').filter((line) => !h.baselineListing.split('\n').includes(line) && !allowed.includes(line));
  if (extra.length > 0) throw new Error(`unexpected entries in ~ or /tmp: ${JSON.stringify(extra)}`);
}

/** Fails unless `value`, quoted by shellQuote as printf's argument, arrives byte-identical and runs nothing. */
export async function checkQuotedRoundTrip(h: HostUnderTest, lane: number, value: string): Promise<void> {
  const file = `out-${lane}.bin`;
  const written = await h.ssh.exec(h.target, `printf %s ${shellQuote(value)} > ${file}`);
  // A fixed command reads the bytes back and looks for the canaries.
  const back = await h.ssh.exec(h.target, `base64 -w0 ${file}; echo; rm -f ${file}; ${canaryCheck(lane)}`);
  const [encoded, ...rest] = back.stdout.split('\n');
  if (written.exitCode !== 0 || written.stderr !== '') {
    throw new Error(`printf of ${describeBytes(value)} failed: exit ${written.exitCode}, stderr ${JSON.stringify(written.stderr)}`);
  }
  const arrived = Buffer.from(encoded ?? '', 'base64');
  if (!arrived.equals(utf8(value)))
    throw new Error(`bytes differ for ${describeBytes(value)}: got ${JSON.stringify(arrived.toString('utf8').slice(0, 300))}`);
  if (rest.join('\n') !== NO_CANARY) throw new Error(`an injected command ran for ${describeBytes(value)}: ${rest.join('\n')}`);
}

/** What a job's command saw through the real run wrapper. */
export interface WrapperRun {
  /** The job directory, relative to the home. */
  dir: string;
  /** The variables the command printed, in order (after "$PWD"): the env keys, then INPUT_<NAME>. */
  names: string[];
  /** The command's output split at NUL, as 'binary' strings: "$PWD", each value, then ''. */
  fields: string[];
  /** The job's train.log. */
  logText: string;
  /** What canaryCheck printed afterwards. */
  canaries: string;
}

/**
 * Uploads the run wrapper rendered for a job with `env` and `inputs` whose command prints "$PWD"
 * and every variable, NUL-terminated; runs it; and reads back what the command printed. Fails when
 * the wrapper itself failed.
 */
export async function runEnvThroughWrapper(
  h: HostUnderTest,
  lane: number,
  id: string,
  env: Record<string, string>,
  inputs: Record<string, string>,
): Promise<WrapperRun> {
  const keys = Object.keys(env);
  const inputKeys = Object.keys(inputs).map((name) => `INPUT_${name.toUpperCase()}`);
  // The command is code by design; it only names the (checked) variables.
  const command = `printf '%s\\0' "$PWD" ${[...keys, ...inputKeys].map((key) => `"$${key}"`).join(' ')} > env.out`;
  const dir = `inno-train/${id}`;
  await h.ssh.exec(h.target, `mkdir -p ${shellQuote(`${dir}/.inno`)}`);
  await h.ssh.upload(h.target, `${dir}/.inno/run.sh`, renderRunScript(jobRecord(id, { env, inputs, command })));
  // The wrapper exits with the command's exit code (the task runner records it; here it runs alone).
  const run = await h.ssh.exec(h.target, `bash ${shellQuote(`${dir}/.inno/run.sh`)}; echo "wrapper=$?"`);
  const readBack = `base64 -w0 ${shellQuote(`${dir}/env.out`)}; echo; base64 -w0 ${shellQuote(`${dir}/train.log`)}; echo`;
  const out = await h.ssh.exec(h.target, `${readBack}; rm -rf ${shellQuote(dir)}; ${canaryCheck(lane)}`);
  const [envOut, log, ...rest] = out.stdout.split('\n');
  const logText = Buffer.from(log ?? '', 'base64').toString('utf8');
  if (run.stdout !== 'wrapper=0\n' || run.stderr !== '')
    throw new Error(`the wrapper failed: ${JSON.stringify(run)}; train.log: ${JSON.stringify(logText)}`);
  // printf '%s\0' ends every value with \0; 'binary' keeps the bytes as they are.
  const fields = Buffer.from(envOut ?? '', 'base64')
    .toString('binary')
    .split('\0');
  return { dir, names: [...keys, ...inputKeys], fields, logText, canaries: rest.join('\n') };
}

/** The bytes each variable must hold: every env value as sent, then each input's local path under `pwd`. */
export function expectedArrivals(env: Record<string, string>, inputs: Record<string, string>, pwd: string): Buffer[] {
  return [
    ...Object.keys(env).map((key) => utf8(env[key]!)),
    ...Object.entries(inputs).map(([name, uri]) => utf8(`${pwd}/inputs/${name}${uri.endsWith('/') ? '' : `/${uri.split('/').pop()}`}`)),
  ];
}

/** Fails on the first value that did not arrive byte-identical, naming its variable. */
export function checkArrivals(values: Buffer[], expected: Buffer[], names: string[]): void {
  values.forEach((actual, index) => {
    if (!actual.equals(expected[index]!)) {
      const [got, sent] = [actual, expected[index]!].map((bytes) => JSON.stringify(bytes.toString('utf8').slice(0, 300)));
      throw new Error(`${names[index]} arrived as ${got}, sent ${sent}`);
    }
  });
}
