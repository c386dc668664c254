/**
 * Property tests of the rule "nothing that is not meant to be code reaches a shell unquoted",
 * against a REAL sshd through the REAL executor:
 *
 *  A. any string (no NUL) quoted by shellQuote arrives byte-identical as one argument, and no
 *     injected command ever runs (canaries, and the home and /tmp listings stay as they were);
 *  B. a NUL byte is refused (shellQuote, exportLines and renderRunScript throw), never truncated;
 *  C. a job's env values and input URIs reach the training command byte-identical through the
 *     real run wrapper (renderRunScript), uploaded and run over SSH;
 *  D. the API's submission schema lets no shell metacharacter through the names that are used
 *     unquoted or as file names (job name, input names, env keys, filenames, metadata keys);
 *  E. the stage-in transfer script fetches files with hostile names to exactly those paths.
 *
 * Each property prints how many cases it ran; fc.assert fails the test on the first failing case
 * (after shrinking) and prints the seed to replay it.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { exportLines } from '@inno-train/core';
import { renderRunScript } from '@inno-train/monitor';
import { jobSubmissionSchema, RESERVED_ENV_KEYS, type JobRecord } from '@inno-train/schemas';
import { SshExecutor, shellQuote, type SshTarget } from '@inno-train/ssh-executor';
import { ensureUbuntuUser, generateSshKeyPair, startSshHost, type SshHost } from '@inno-train/test-kit';
// Not exported by @inno-train/transfer's index: the compiled module is imported by path.
import { renderStageInScript } from '../../../apps/transfer/dist/host-scripts';

jest.setTimeout(240_000);

const IP = '127.0.0.201';
const PORT = 2222;

let host: SshHost;
let target: SshTarget;
const ssh = new SshExecutor({ readyTimeoutMs: 15_000, commandTimeoutMs: 30_000 });
/** What `ls -A ~ /tmp` shows before any case ran: an injected command would add to it. */
let baselineListing = '';

beforeAll(async () => {
  await ensureUbuntuUser();
  const keys = generateSshKeyPair();
  host = await startSshHost({ ip: IP, port: PORT, authorizedKeys: [keys.publicKey] });
  target = { host: IP, port: PORT, username: 'ubuntu', privateKey: keys.privateKey };
  baselineListing = (await ssh.exec(target, LISTING)).stdout;
});

afterAll(async () => {
  await host?.kill();
});

// ---------------------------------------------------------------------------------------------
// Hostile strings
// ---------------------------------------------------------------------------------------------

/** Shell metacharacters, quoting, whitespace, control characters (no NUL) and tricky unicode. */
const HOSTILE_CHARS = [
  "'", '"', '$', '(', ')', '`', ';', '|', '&', '\n', '\r', '\t', '\\', '*', '?', '[', ']', '{', '}', '~', '!', '#',
  '<', '>', ' ', '%', '=', '^', ',', '-', '+', '@', ':', '.', '/', '\x01', '\x07', '\x1b', '\x7f', '\x85', '\xa0',
  'a', 'Z', '0', 'é', 'ß', '世', '\u0301' /* combining acute */, '\u200b' /* zero width space */, '\u200e' /* LRM */,
  '\u200f' /* RLM */, '\u202e' /* RLO */, '\u2028' /* line separator */, '\ufeff' /* BOM */, '\ufffd',
  '🚀', '👩‍👩‍👧', '𝕏', 'ע', 'ب',
];

/** Strings that run a command (creating a canary) if they reach the shell unquoted. */
const CANARY_PAYLOADS = [
  '$(touch ~/canary)', '$(touch /tmp/canary)', '`touch ~/canary`', '`touch /tmp/canary`',
  "'; touch ~/canary; '", '"; touch ~/canary; "', "'\"$(touch /tmp/canary)\"'", '; touch ~/canary',
  '&& touch ~/canary', '|| touch ~/canary', '| touch ~/canary', '& touch /tmp/canary &', '\ntouch ~/canary\n',
  '\r\ntouch /tmp/canary\r\n', '$(touch${IFS}/tmp/canary)', '<(touch ~/canary)', '>(touch /tmp/canary)',
  '> ~/canary', '>>/tmp/canary', "\\'$(touch ~/canary)\\'", "'\\''$(touch ~/canary)'\\''", '${x:-$(touch ~/canary)}',
  '$((1+$(touch ~/canary)))', "$'\\x27'; touch ~/canary", '\\\n$(touch ~/canary)', '!!; touch ~/canary', '{touch,~/canary}',
  '*', '~', '~root', '$HOME', '${PATH}', '$IFS', '$0', '$$', '$@', '-n', '--', '%s%n%d', '\\', "'", '"', '',
];

const hostileChar = fc.constantFrom(...HOSTILE_CHARS);
const hostileString = fc.string({ unit: hostileChar, maxLength: 200 });

/** Replaces lone surrogates (a cut pair) with U+FFFD, as String.prototype.toWellFormed does. */
function wellFormed(value: string): string {
  return value.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** One arbitrary string without NUL: hostile alphabets, all of unicode, payloads, very long. */
function withoutNul(arb: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return arb.map((value) => value.replace(/\0/g, '\u2400'));
}

const payloadMix = fc
  .array(fc.oneof(fc.constantFrom(...CANARY_PAYLOADS), hostileString), { minLength: 1, maxLength: 6 })
  .map((parts) => parts.join(''));

const veryLong = fc
  .tuple(fc.oneof(hostileString.filter((s) => s.length > 0), fc.constantFrom(...CANARY_PAYLOADS).filter((s) => s.length > 0), withoutNul(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }))), fc.integer({ min: 1_000, max: 20_000 }))
  .map(([chunk, length]) => chunk.repeat(Math.ceil(length / chunk.length)).slice(0, length))
  // A slice may cut a surrogate pair: a lone surrogate is not a string a client can send as UTF-8.
  .map(wellFormed);

const arbitraryValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 3, arbitrary: payloadMix },
  { weight: 2, arbitrary: withoutNul(fc.string({ unit: 'binary', maxLength: 300 })) },
  { weight: 2, arbitrary: withoutNul(fc.string({ unit: 'grapheme', maxLength: 100 })) },
  { weight: 1, arbitrary: withoutNul(fc.string({ unit: 'grapheme-composite', maxLength: 100 })) },
  { weight: 1, arbitrary: withoutNul(fc.string({ unit: 'binary-ascii', maxLength: 300 })) },
  { weight: 1, arbitrary: fc.constantFrom(...CANARY_PAYLOADS) },
  { weight: 1, arbitrary: veryLong },
);

// ---------------------------------------------------------------------------------------------
// Helpers on the host
// ---------------------------------------------------------------------------------------------

/** Fixed command: what exists in the home and /tmp, hidden files included. */
const LISTING = 'ls -A ~ /tmp';
/**
 * Fixed command: no canary may exist. One found is reported and removed, so the next case starts
 * clean and shrinking blames the case that made it. Lanes run at once, so each lane's payloads name
 * their own canary (see forLane) and a lane only looks at its own and the plain ones.
 */
function canaryCheck(lane?: number): string {
  const names = ['canary', ...(lane === undefined ? [] : [`canary-L${lane}`])];
  const paths = names.flatMap((name) => [`~/${name}`, `/tmp/${name}`]).join(' ');
  return `for f in ${paths}; do if test -e "$f"; then echo "CANARY $f"; rm -rf "$f"; fi; done; echo checked`;
}
const CANARY_CHECK = canaryCheck();

/** The same strings, with every canary a payload would create renamed to the lane's own. */
function forLane(arb: fc.Arbitrary<string>, lane: number): fc.Arbitrary<string> {
  return arb.map((value) => value.split('canary').join(`canary-L${lane}`));
}

function utf8(value: string): Buffer {
  return Buffer.from(value, 'utf8');
}

function describeBytes(value: string): string {
  const shown = value.length > 300 ? `${JSON.stringify(value.slice(0, 300))}... (${value.length} chars)` : JSON.stringify(value);
  return shown;
}

/** Fails with what was found when a canary exists or the home or /tmp gained anything unexpected. */
async function expectNoInjection(allowed: string[] = []): Promise<void> {
  const canary = await ssh.exec(target, CANARY_CHECK);
  if (canary.stdout !== 'checked\n') throw new Error(`an injected command ran: ${canary.stdout}`);
  const listing = (await ssh.exec(target, LISTING)).stdout;
  const extra = listing.split('\n').filter((line) => !baselineListing.split('\n').includes(line) && !allowed.includes(line));
  if (extra.length > 0) throw new Error(`unexpected entries in ~ or /tmp: ${JSON.stringify(extra)}`);
}

function summary(property: string, cases: number, startedAt: number, extra = ''): void {
  process.stdout.write(`[hostile-input] ${property}: ${cases} cases in ${((Date.now() - startedAt) / 1000).toFixed(1)} s${extra ? `; ${extra}` : ''}\n`);
}

// ---------------------------------------------------------------------------------------------
// Job records for the run wrapper
// ---------------------------------------------------------------------------------------------

let jobCounter = 0;
function newJobId(): string {
  jobCounter += 1;
  return `j${Date.now().toString(36).padStart(10, '0')}${jobCounter.toString(36).padStart(12, '0')}`.slice(0, 23);
}

function jobRecord(id: string, spec: Partial<JobRecord['spec']>): JobRecord {
  return {
    id, name: null, status: 'training', createdAt: '', updatedAt: '', startedAt: null, finishedAt: null,
    spec: { instance: { type: 'gpu_1x_a10' }, inputs: {}, script: { inline: 'x', filename: 'train.py' }, command: 'true', outputUri: 's3://b/o/', ...spec },
    instance: null, progress: null, outputs: [], error: null, pendingError: null, cancelRequested: false, createdBy: null,
    training: { startedAt: null, exitCode: null }, metadata: {},
  };
}

/**
 * Keys bash itself gives a meaning to (read-only, dynamic or changing how bash runs): assigning
 * them is not a quoting question, so the env property leaves them out (see the report).
 */
const BASH_SPECIAL = new Set([
  '_', 'BASH', 'BASHOPTS', 'BASHPID', 'BASH_ENV', 'CDPATH', 'COLUMNS', 'DIRSTACK', 'ENV', 'EPOCHREALTIME', 'EPOCHSECONDS',
  'EUID', 'FUNCNAME', 'GLOBIGNORE', 'GROUPS', 'HISTCMD', 'HOSTNAME', 'HOSTTYPE', 'IFS', 'LANG', 'LINENO', 'LINES',
  'MACHTYPE', 'OLDPWD', 'OPTARG', 'OPTERR', 'OPTIND', 'OSTYPE', 'PIPESTATUS', 'POSIXLY_CORRECT', 'PPID', 'PROMPT_COMMAND',
  'PWD', 'PYTHONUNBUFFERED', 'RANDOM', 'REPLY', 'SECONDS', 'SHELLOPTS', 'SHLVL', 'SRANDOM', 'TIMEFORMAT', 'TMOUT', 'TMPDIR', 'UID',
]);
const BASH_SPECIAL_PREFIXES = ['BASH_', 'COMP_', 'LC_', 'LD_', 'HIST', 'PS', 'READLINE_', 'COPROC'];

const envKey = fc
  .stringMatching(/^[A-Z_][A-Z0-9_]{0,30}$/)
  .filter((key) => !RESERVED_ENV_KEYS.has(key) && !key.startsWith('INPUT_') && !key.startsWith('INNO_'))
  .filter((key) => !BASH_SPECIAL.has(key) && !BASH_SPECIAL_PREFIXES.some((prefix) => key.startsWith(prefix)));

/** Env values as the API accepts them: at most 8192 UTF-16 units, no NUL (the schema's limit). */
const envValue = arbitraryValue.map((value) => wellFormed(value.slice(0, 8192)));

/** An S3 key's last segment as the API lets it through: no control characters, no '/'. */
const keySegment = fc
  .oneof(hostileString, payloadMix, withoutNul(fc.string({ unit: 'grapheme', maxLength: 40 })))
  .map((value) => wellFormed(value.replace(/[\u0000-\u001f\u007f-\u009f/]/g, '_').slice(0, 200)))
  .filter((value) => value !== '' && value !== '.' && value !== '..');

const inputName = fc.stringMatching(/^[a-z][a-z0-9_]{0,31}$/);

// ---------------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------------

/**
 * Runs `total` cases of an async property in `lanes` concurrent fc.assert calls (each its own seed,
 * shrinking and report). One SSH call costs ~250 ms of mostly waiting, so lanes keep the suite fast;
 * each lane works in its own files and directories on the host.
 */
async function assertInLanes<T>(lanes: number, total: number, property: (lane: number) => fc.IAsyncPropertyWithHooks<T>): Promise<void> {
  const perLane = Math.ceil(total / lanes);
  const results = await Promise.allSettled(Array.from({ length: lanes }, (_, lane) => fc.assert(property(lane), { numRuns: perLane })));
  const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failure) throw failure.reason;
}

describe('hostile input never reaches a shell unquoted (real sshd, real executor)', () => {
  afterEach(async () => {
    // Job directories of C and E are removed per case; the parent is ours too.
    await ssh.exec(target, 'rm -rf ~/inno-train');
  });

  it('A: any string without NUL, quoted by shellQuote, arrives byte-identical and runs nothing', async () => {
    const startedAt = Date.now();
    let cases = 0;
    let longest = 0;
    let bytes = 0;
    await assertInLanes(4, Number(process.env.HOSTILE_RUNS_A ?? 240), (lane) =>
      fc.asyncProperty(forLane(arbitraryValue, lane), async (value) => {
        cases += 1;
        longest = Math.max(longest, value.length);
        bytes += utf8(value).length;
        const file = `out-${lane}.bin`;
        const written = await ssh.exec(target, `printf %s ${shellQuote(value)} > ${file}`);
        // A fixed command reads the bytes back and looks for the canaries.
        const back = await ssh.exec(target, `base64 -w0 ${file}; echo; rm -f ${file}; ${canaryCheck(lane)}`);
        const [encoded, ...rest] = back.stdout.split('\n');
        if (written.exitCode !== 0 || written.stderr !== '') {
          throw new Error(`printf of ${describeBytes(value)} failed: exit ${written.exitCode}, stderr ${JSON.stringify(written.stderr)}`);
        }
        const arrived = Buffer.from(encoded ?? '', 'base64');
        if (!arrived.equals(utf8(value))) throw new Error(`bytes differ for ${describeBytes(value)}: got ${JSON.stringify(arrived.toString('utf8').slice(0, 300))}`);
        if (rest.join('\n') !== 'checked\n') throw new Error(`an injected command ran for ${describeBytes(value)}: ${rest.join('\n')}`);
      }),
    );
    // A payload that escaped its quotes would also have left a file somewhere (`> x`, `touch`).
    await expectNoInjection();
    summary('property A (shellQuote over SSH: byte-identical, no canary)', cases, startedAt, `longest ${longest} chars, ${bytes} bytes in all`);
  });

  it('B: a NUL byte is refused everywhere data is quoted, never silently truncated', () => {
    const startedAt = Date.now();
    let cases = 0;
    const withNul = fc
      .tuple(arbitraryValue.map((v) => v.slice(0, 500)), fc.array(fc.constant('\0'), { minLength: 1, maxLength: 3 }), arbitraryValue.map((v) => v.slice(0, 500)))
      .map(([before, nuls, after]) => `${before}${nuls.join('')}${after}`);
    fc.assert(
      fc.property(withNul, envKey, (value, key) => {
        cases += 1;
        expect(() => shellQuote(value)).toThrow(/NUL/);
        expect(() => exportLines({ [key]: value })).toThrow(/NUL/);
        expect(() => renderRunScript(jobRecord('j0000000000000000000000', { env: { [key]: value } }))).toThrow(/NUL/);
        expect(() => renderStageInScript({ jobDir: 'inno-train/x', files: [{ relPath: `inputs/${value}`, url: 'http://127.0.0.1/x', size: 1 }], parallelism: 1, statusFile: '.inno/s.json' })).toThrow(/NUL/);
      }),
      { numRuns: Number(process.env.HOSTILE_RUNS_B ?? 2000) },
    );
    summary('property B (NUL refused by shellQuote, exportLines, renderRunScript, renderStageInScript)', cases, startedAt);
  });

  it('C: env values and input URIs reach the training command byte-identical through the real run wrapper', async () => {
    const startedAt = Date.now();
    let cases = 0;
    let valuesChecked = 0;
    const envArb = (lane: number) => fc.dictionary(envKey, forLane(envValue, lane), { minKeys: 1, maxKeys: 6 });
    const inputsArb = (lane: number) => fc.dictionary(
      inputName,
      fc.tuple(forLane(keySegment, lane), fc.boolean()).map(([segment, prefix]) => (prefix ? `s3://bucket/data/${segment}/` : `s3://bucket/data/${segment}`)),
      { maxKeys: 3 },
    );
    await assertInLanes(4, Number(process.env.HOSTILE_RUNS_C ?? 60), (lane) =>
      fc.asyncProperty(envArb(lane), inputsArb(lane), async (env, inputs) => {
        cases += 1;
        const id = newJobId();
        const keys = Object.keys(env);
        const inputKeys = Object.keys(inputs).map((name) => `INPUT_${name.toUpperCase()}`);
        // The command is code by design; it only names the (checked) variables.
        const command = `printf '%s\\0' "$PWD" ${[...keys, ...inputKeys].map((key) => `"$${key}"`).join(' ')} > env.out`;
        const dir = `inno-train/${id}`;
        await ssh.exec(target, `mkdir -p ${shellQuote(`${dir}/.inno`)}`);
        await ssh.upload(target, `${dir}/.inno/run.sh`, renderRunScript(jobRecord(id, { env, inputs, command })));
        const run = await ssh.exec(target, `bash ${shellQuote(`${dir}/.inno/run.sh`)}; echo "wrapper=$?"; cat ${shellQuote(`${dir}/.inno/exit_code`)}`);
        const out = await ssh.exec(target, `base64 -w0 ${shellQuote(`${dir}/env.out`)}; echo; base64 -w0 ${shellQuote(`${dir}/train.log`)}; echo; rm -rf ${shellQuote(dir)}; ${canaryCheck(lane)}`);
        const [envOut, log, ...rest] = out.stdout.split('\n');
        const logText = Buffer.from(log ?? '', 'base64').toString('utf8');
        if (run.stdout !== 'wrapper=0\n0\n' || run.stderr !== '') throw new Error(`the wrapper failed: ${JSON.stringify(run)}; train.log: ${JSON.stringify(logText)}`);
        // printf '%s\0' ends every value with \0; 'binary' keeps the bytes as they are.
        const fields = Buffer.from(envOut ?? '', 'base64').toString('binary').split('\0');
        expect(fields.pop()).toBe('');
        const [pwd, ...values] = fields.map((field) => Buffer.from(field, 'binary'));
        expect(pwd!.toString('utf8')).toMatch(new RegExp(`/${dir}$`));
        const expected = [
          ...keys.map((key) => utf8(env[key]!)),
          ...Object.entries(inputs).map(([name, uri]) => utf8(`${pwd!.toString('utf8')}/inputs/${name}${uri.endsWith('/') ? '' : `/${uri.split('/').pop()}`}`)),
        ];
        expect(values).toHaveLength(expected.length);
        values.forEach((actual, index) => {
          if (!actual.equals(expected[index]!)) {
            const name = [...keys, ...inputKeys][index];
            throw new Error(`${name} arrived as ${JSON.stringify(actual.toString('utf8').slice(0, 300))}, sent ${JSON.stringify(expected[index]!.toString('utf8').slice(0, 300))}`);
          }
          valuesChecked += 1;
        });
        expect(logText).toBe('');
        if (rest.join('\n') !== 'checked\n') throw new Error(`an injected command ran: ${rest.join('\n')}`);
      }),
    );
    await expectNoInjection(['inno-train']);
    summary('property C (renderRunScript env + input paths over SSH)', cases, startedAt, `${valuesChecked} values compared byte for byte`);
  });

  it('D: the submission schema lets no shell metacharacter through names, keys and filenames', () => {
    const startedAt = Date.now();
    let cases = 0;
    let accepted = 0;
    const dropped = new Set<string>();
    const SAFE = /^[A-Za-z0-9._-]+$/;
    const fields = {
      name: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
      inputName: /^[a-z][a-z0-9_]{0,31}$/,
      envKey: /^[A-Za-z_][A-Za-z0-9_]*$/,
      filename: /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
      uriScriptFilename: /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
      metadataKey: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    } as const;
    type Field = keyof typeof fields;
    const place = (field: Field, value: string) => {
      const body = {
        name: 'ok',
        instance: { type: 'gpu_1x_a10' },
        inputs: { train: 's3://bucket/data/train.jsonl' } as Record<string, string>,
        script: { inline: 'print(1)', filename: 'train.py' } as Record<string, string>,
        env: { OK: '1' } as Record<string, string>,
        metadata: { team: 'x' } as Record<string, string>,
      };
      // As JSON.parse would build it: the value is an own property even when it is "__proto__".
      const record = (key: string, v: string) => JSON.parse(JSON.stringify({ [key]: v })) as Record<string, string>;
      if (field === 'name') body.name = value;
      if (field === 'inputName') body.inputs = record(value, 's3://bucket/data/train.jsonl');
      if (field === 'envKey') body.env = record(value, '1');
      if (field === 'filename') body.script = { inline: 'print(1)', filename: value };
      if (field === 'uriScriptFilename') body.script = { uri: 's3://bucket/scripts/train.py', filename: value };
      if (field === 'metadataKey') body.metadata = record(value, 'x');
      return body;
    };
    /** What of the field reached the parsed submission (what the service then uses). */
    const reached = (field: Field, data: any): string[] => {
      if (field === 'name') return [data.name];
      if (field === 'inputName') return Object.keys(data.inputs);
      if (field === 'envKey') return Object.keys(data.env ?? {});
      if (field === 'filename' || field === 'uriScriptFilename') return [data.script.filename];
      return Object.keys(data.metadata ?? {});
    };
    // Strings near the patterns (so some pass), with metacharacters, unicode and line ends mixed in.
    const nearPattern = fc.string({
      unit: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...'abcxyzABCXYZ019_.-') }, { weight: 1, arbitrary: hostileChar }),
      maxLength: 140,
    });
    const candidate = fc.oneof(
      { weight: 4, arbitrary: nearPattern },
      { weight: 2, arbitrary: arbitraryValue.map((v) => v.slice(0, 300)) },
      { weight: 1, arbitrary: fc.tuple(nearPattern, fc.constantFrom('\n', '\r\n', '\u2028', ' ', '\0', '$(id)', '\u200f')).map(([v, end]) => `${v}${end}`) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 70 }) },
      { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '-rf', '--', '.', '..', '...', '-', '_', 'a\nb', 'ok\n') },
    );
    fc.assert(
      fc.property(fc.constantFrom(...(Object.keys(fields) as Field[])), candidate, (field, value) => {
        cases += 1;
        const parsed = jobSubmissionSchema.safeParse(place(field, value));
        if (!parsed.success) return;
        accepted += 1;
        const values = reached(field, parsed.data);
        // A record key the schema drops silently (zod skips "__proto__") reaches nothing; see the report.
        if (!values.includes(value) && field !== 'name' && field !== 'filename' && field !== 'uriScriptFilename') dropped.add(`${field}=${JSON.stringify(value)}`);
        for (const v of values) {
          expect({ field, value: v, matches: fields[field].test(v) }).toEqual({ field, value: v, matches: true });
          expect({ field, value: v, safe: SAFE.test(v) }).toEqual({ field, value: v, safe: true });
          // What passed needs no quoting at all: shellQuote leaves it unchanged.
          expect(shellQuote(v)).toBe(v);
        }
      }),
      { numRuns: Number(process.env.HOSTILE_RUNS_D ?? 20_000) },
    );
    summary('property D (jobSubmissionSchema patterns)', cases, startedAt, `${accepted} accepted, ${cases - accepted} rejected${dropped.size ? `; accepted but silently dropped: ${[...dropped].join(', ')}` : ''}`);
  });

  it('E: the stage-in script fetches files with hostile names to exactly those paths, and runs nothing', async () => {
    const startedAt = Date.now();
    let cases = 0;
    let files = 0;
    // A plain HTTP server plays the presigned URLs (the host shares the machine's network).
    const bodies = new Map<string, Buffer>();
    const server: Server = createServer((req, res) => {
      const body = bodies.get(req.url ?? '');
      if (!body) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const relPathArb = (lane: number) => fc
      .array(forLane(keySegment, lane).map((s) => wellFormed(s.slice(0, 60))), { minLength: 1, maxLength: 3 })
      .map((segments) => `inputs/${segments.join('/')}`);
    try {
      await assertInLanes(3, Number(process.env.HOSTILE_RUNS_E ?? 30), (lane) =>
        fc.asyncProperty(fc.uniqueArray(relPathArb(lane), { minLength: 1, maxLength: 5 }), fc.array(fc.nat(3000), { minLength: 5, maxLength: 5 }), async (relPaths, sizes) => {
          // A path that is also the directory of another cannot be planned; keep the leaves only.
          const leaves = relPaths.filter((path) => !relPaths.some((other) => other.startsWith(`${path}/`)));
          cases += 1;
          const id = newJobId();
          const dir = `inno-train/${id}`;
          const plan = leaves.map((relPath, index) => {
            const body = Buffer.from(createHash('sha256').update(`${id}/${index}`).digest('hex').repeat(50).slice(0, sizes[index] ?? 10));
            bodies.set(`/${id}/${index}`, body);
            return { relPath, url: `http://127.0.0.1:${port}/${id}/${index}`, size: body.length, body };
          });
          const script = renderStageInScript({ jobDir: dir, files: plan.map(({ relPath, url, size }) => ({ relPath, url, size })), parallelism: 4, statusFile: '.inno/stage-in.json' });
          await ssh.exec(target, `mkdir -p ${shellQuote(`${dir}/.inno`)}`);
          await ssh.upload(target, `${dir}/.inno/stage-in.sh`, script);
          const run = await ssh.exec(target, `bash ${shellQuote(`${dir}/.inno/stage-in.sh`)}`);
          if (run.exitCode !== 0) throw new Error(`stage-in failed: ${JSON.stringify(run)}`);
          // Every file under inputs/ with its size and checksum, listed by python (names may hold anything).
          const listing = await ssh.exec(target, `cd ${shellQuote(dir)} && python3 -c ${shellQuote(LIST_FILES_PY)}; cd ~ && rm -rf ${shellQuote(dir)}; ${canaryCheck(lane)}`);
          const [json, ...rest] = listing.stdout.split('\n');
          const found = JSON.parse(json ?? '{}') as Record<string, [number, string]>;
          const expected = Object.fromEntries(plan.map(({ relPath, body }) => [relPath, [body.length, createHash('sha256').update(body).digest('hex')]]));
          expect(found).toEqual(expected);
          if (rest.join('\n') !== 'checked\n') throw new Error(`an injected command ran: ${rest.join('\n')}`);
          files += plan.length;
        }),
      );
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await expectNoInjection(['inno-train']);
    summary('property E (stage-in script, hostile file names over SSH)', cases, startedAt, `${files} files fetched and checked`);
  });
});

/** Prints {relPath: [size, sha256]} for every file under inputs/ (paths as UTF-8, names may hold anything). */
const LIST_FILES_PY = String.raw`
import hashlib, json, os
out = {}
for root, dirs, files in os.walk(b'inputs'):
    for name in files:
        path = os.path.join(root, name)
        with open(path, 'rb') as f:
            data = f.read()
        out[path.decode('utf-8')] = [len(data), hashlib.sha256(data).hexdigest()]
print(json.dumps(out))
`;
