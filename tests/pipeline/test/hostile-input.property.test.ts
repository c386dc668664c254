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
 * The hostile strings, the host probes and the submission fields are in src/fuzz. Each property
 * prints how many cases it ran; fc.assert fails the test on the first failing case (after
 * shrinking) and prints the seed to replay it.
 */
import fc from 'fast-check';
import { exportLines } from '@inno-train/core';
import { renderRunScript } from '@inno-train/monitor';
import { jobSubmissionSchema } from '@inno-train/schemas';
import { SshExecutor, shellQuote } from '@inno-train/ssh-executor';
import { ensureUbuntuUser, generateSshKeyPair, startSshHost, type SshHost } from '@inno-train/test-kit';
import { renderStageInScript } from '@inno-train/host-protocol';
import {
  arbitraryValue,
  assertInLanes,
  assertNoInjection,
  checkArrivals,
  checkQuotedRoundTrip,
  envFor,
  envKey,
  expectedArrivals,
  expectedListing,
  FIELD_PATTERNS,
  fieldCandidate,
  forLane,
  inputRelPathFor,
  inputsFor,
  isRecordKey,
  jobRecord,
  leavesOnly,
  LISTING,
  newJobId,
  NO_CANARY,
  planFiles,
  printPropertySummary,
  reachedValues,
  runEnvThroughWrapper,
  runStageIn,
  SAFE_NAME,
  startFileServer,
  submissionWith,
  SUBMISSION_FIELDS,
  utf8,
  valueWithNul,
  type HostUnderTest,
} from '../src/fuzz';

jest.setTimeout(240_000);

const IP = '127.0.0.201';
const PORT = 2222;

let sshd: SshHost;
let host: HostUnderTest;
const ssh = new SshExecutor({ readyTimeoutMs: 15_000, commandTimeoutMs: 30_000 });

beforeAll(async () => {
  await ensureUbuntuUser();
  const keys = generateSshKeyPair();
  sshd = await startSshHost({ ip: IP, port: PORT, authorizedKeys: [keys.publicKey] });
  const target = { host: IP, port: PORT, username: 'ubuntu', privateKey: keys.privateKey };
  host = { ssh, target, baselineListing: (await ssh.exec(target, LISTING)).stdout };
});

afterAll(async () => {
  await sshd?.kill();
});

describe('hostile input never reaches a shell unquoted (real sshd, real executor)', () => {
  afterEach(async () => {
    // Job directories of C and E are removed per case; the parent is ours too.
    await ssh.exec(host.target, 'rm -rf ~/inno-train');
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
        await checkQuotedRoundTrip(host, lane, value);
      }),
    );
    // A payload that escaped its quotes would also have left a file somewhere (`> x`, `touch`).
    await assertNoInjection(host);
    printPropertySummary(
      'property A (shellQuote over SSH: byte-identical, no canary)',
      cases,
      startedAt,
      `longest ${longest} chars, ${bytes} bytes in all`,
    );
  });

  it('B: a NUL byte is refused everywhere data is quoted, never silently truncated', () => {
    const startedAt = Date.now();
    let cases = 0;
    fc.assert(
      fc.property(valueWithNul, envKey, (value, key) => {
        cases += 1;
        expect(() => shellQuote(value)).toThrow(/NUL/);
        expect(() => exportLines({ [key]: value })).toThrow(/NUL/);
        expect(() => renderRunScript(jobRecord('j0000000000000000000000', { env: { [key]: value } }))).toThrow(/NUL/);
        const files = [{ relPath: `inputs/${value}`, url: 'http://127.0.0.1/x', size: 1 }];
        expect(() => renderStageInScript({ jobDir: 'inno-train/x', files, connections: 1, statusFile: '.inno/s.json' })).toThrow(/NUL/);
      }),
      { numRuns: Number(process.env.HOSTILE_RUNS_B ?? 2000) },
    );
    printPropertySummary('property B (NUL refused by shellQuote, exportLines, renderRunScript, renderStageInScript)', cases, startedAt);
  });

  it('C: env values and input URIs reach the training command byte-identical through the real run wrapper', async () => {
    const startedAt = Date.now();
    let cases = 0;
    let valuesChecked = 0;
    await assertInLanes(4, Number(process.env.HOSTILE_RUNS_C ?? 60), (lane) =>
      fc.asyncProperty(envFor(lane), inputsFor(lane), async (env, inputs) => {
        cases += 1;
        const seen = await runEnvThroughWrapper(host, lane, newJobId(), env, inputs);
        expect(seen.fields.pop()).toBe('');
        const [pwd, ...values] = seen.fields.map((field) => Buffer.from(field, 'binary'));
        expect(pwd!.toString('utf8')).toMatch(new RegExp(`/${seen.dir}$`));
        const expected = expectedArrivals(env, inputs, pwd!.toString('utf8'));
        expect(values).toHaveLength(expected.length);
        checkArrivals(values, expected, seen.names);
        valuesChecked += values.length;
        expect(seen.logText).toBe('');
        if (seen.canaries !== NO_CANARY) throw new Error(`an injected command ran: ${seen.canaries}`);
      }),
    );
    await assertNoInjection(host, ['inno-train']);
    printPropertySummary(
      'property C (renderRunScript env + input paths over SSH)',
      cases,
      startedAt,
      `${valuesChecked} values compared byte for byte`,
    );
  });

  it('D: the submission schema lets no shell metacharacter through names, keys and filenames', () => {
    const startedAt = Date.now();
    let cases = 0;
    let accepted = 0;
    const dropped = new Set<string>();
    fc.assert(
      fc.property(fc.constantFrom(...SUBMISSION_FIELDS), fieldCandidate, (field, value) => {
        cases += 1;
        const parsed = jobSubmissionSchema.safeParse(submissionWith(field, value));
        if (!parsed.success) return;
        accepted += 1;
        const values = reachedValues(field, parsed.data);
        // A record key the schema drops silently (zod skips "__proto__") reaches nothing; see the report.
        if (!values.includes(value) && isRecordKey(field)) dropped.add(`${field}=${JSON.stringify(value)}`);
        for (const v of values) {
          expect({ field, value: v, matches: FIELD_PATTERNS[field].test(v) }).toEqual({ field, value: v, matches: true });
          expect({ field, value: v, safe: SAFE_NAME.test(v) }).toEqual({ field, value: v, safe: true });
          // What passed needs no quoting at all: shellQuote leaves it unchanged.
          expect(shellQuote(v)).toBe(v);
        }
      }),
      { numRuns: Number(process.env.HOSTILE_RUNS_D ?? 20_000) },
    );
    const droppedNote = dropped.size ? `; accepted but silently dropped: ${[...dropped].join(', ')}` : '';
    printPropertySummary(
      'property D (jobSubmissionSchema patterns)',
      cases,
      startedAt,
      `${accepted} accepted, ${cases - accepted} rejected${droppedNote}`,
    );
  });

  it('E: the stage-in script fetches files with hostile names to exactly those paths, and runs nothing', async () => {
    const startedAt = Date.now();
    let cases = 0;
    let files = 0;
    const server = await startFileServer();
    try {
      await assertInLanes(3, Number(process.env.HOSTILE_RUNS_E ?? 30), (lane) =>
        fc.asyncProperty(
          fc.uniqueArray(inputRelPathFor(lane), { minLength: 1, maxLength: 5 }),
          fc.array(fc.nat(3000), { minLength: 5, maxLength: 5 }),
          async (relPaths, sizes) => {
            const leaves = leavesOnly(relPaths);
            cases += 1;
            const id = newJobId();
            const dir = `inno-train/${id}`;
            const plan = planFiles(server, id, leaves, sizes);
            const planned = plan.map(({ relPath, url, size }) => ({ relPath, url, size }));
            const script = renderStageInScript({ jobDir: dir, files: planned, connections: 4, statusFile: '.inno/stage-in.json' });
            const landed = await runStageIn(host, lane, dir, script);
            expect(landed.found).toEqual(expectedListing(plan));
            if (landed.canaries !== NO_CANARY) throw new Error(`an injected command ran: ${landed.canaries}`);
            files += plan.length;
          },
        ),
      );
    } finally {
      await server.close();
    }
    await assertNoInjection(host, ['inno-train']);
    printPropertySummary(
      'property E (stage-in script, hostile file names over SSH)',
      cases,
      startedAt,
      `${files} files fetched and checked`,
    );
  });
});
