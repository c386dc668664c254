/**
 * Fuzzing the running API over HTTP: at least 10,000 generated requests against the whole stack
 * (real Redis, S3 server, Lambda simulator with OpenSSH hosts, the four apps as processes).
 *
 * The mix: job bodies mutated so they are certainly invalid (missing, extra, mistyped, null,
 * out-of-range, oversized, deeply nested, hostile or unicode fields), schema-valid bodies naming
 * inputs that do not exist, malformed JSON, wrong content types and encodings, random methods and
 * paths under /v1 and /admin/queues, random list queries, random ids on the id routes, bad and
 * missing Authorization headers; 20 valid jobs (hostile env, metadata and config values) whose
 * script sleeps 60 s, sent in the last part of the run so they are still running at the end; and a
 * few probes of what the schema lets through: configs nested 200 to 200,000 levels deep, an env
 * value holding a NUL byte. The generators are in src/fuzz (api-*.ts).
 *
 * Asserted: no 5xx; every 4xx the service answers has {error: {code, message}} (Bull Board's own
 * answers behind the key are only reported); no request goes unanswered; valid jobs are accepted
 * and certainly-invalid ones are not; the read-only board changes nothing; every app process is
 * still alive and /healthz answers 200; every accepted job can be cancelled (or has ended), did not
 * fail or get retried because of what it holds, and ends with its instances terminated; no
 * instance is left alive. Findings are grouped by cause, with up to three requests each.
 *
 * FUZZ_SEED replays a run (the seed is printed; which accepted job ids get reused depends on
 * timing); FUZZ_REQUESTS changes the number of requests.
 */
import { BUCKET, putObject, startStack, testS3Client, type Stack } from '../src';
import {
  cancelAndAwaitEnd,
  createRequestSource,
  DATA_KEY,
  findingsReport,
  findTroubleInAcceptedJobs,
  PREFIX_KEY,
  printApiErrors,
  printRunFigures,
  printRunStart,
  sendFuzzRequests,
} from '../src/fuzz';

jest.setTimeout(300_000);

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const TOTAL = Number(process.env.FUZZ_REQUESTS ?? 10_000);
/**
 * Valid submissions each rent a "GPU instance" (an sshd on 127.0.0.<ipBase + n>): the addresses
 * from 210 end at 255 and the simulator has 40 of the type, so 20 (0.2%) is what fits.
 */
const VALID_JOBS = Number(process.env.FUZZ_VALID_JOBS ?? 20);
const CONCURRENCY = 20;

let stack: Stack;

beforeAll(async () => {
  // One client sending 10,000 requests in well under a minute: the per-key limit (600/min by
  // default) would answer nearly all of them 429. A limit that never trips keeps its code path
  // (a Redis INCR per request) in every request.
  stack = await startStack({
    ipBase: 210,
    replicas: { provisioner: 1, transfer: 1, monitor: 1 },
    extraEnv: { API_RATE_LIMIT_PER_MINUTE: '100000000' },
  });
  const s3 = testS3Client(stack.s3);
  await putObject(s3, BUCKET, DATA_KEY, 'fuzz data\n');
  await putObject(s3, BUCKET, `${PREFIX_KEY}part-0.txt`, 'part zero\n');
  s3.destroy();
});

afterAll(async () => {
  await stack?.stop();
});

describe('fuzzing the running API', () => {
  it(`survives ${TOTAL} generated requests without a 5xx, and every accepted job ends cleanly`, async () => {
    printRunStart(SEED, TOTAL, VALID_JOBS);
    const source = createRequestSource(SEED, stack.secrets.apiKey);
    const run = await sendFuzzRequests(stack.baseUrl, source, { total: TOTAL, validJobs: VALID_JOBS, concurrency: CONCURRENCY });

    // The API survived and answers; so did every worker (hostile jobs must not crash them).
    const api = stack.apps.find((app) => app.app === 'api')!;
    const dead = stack.apps
      .filter((app) => app.child.exitCode !== null || app.child.signalCode !== null)
      .map((app) => `${app.name} (exit ${app.child.exitCode ?? app.child.signalCode})`);
    const health = await fetch(`${stack.baseUrl}/healthz`);
    // The read-only board changed nothing: no queue paused.
    const board = await stack.api('/admin/queues/api/queues');
    const boardQueues = (board.json?.queues ?? []) as Array<{ name: string; isPaused: boolean }>;

    const cleanup = await cancelAndAwaitEnd(stack, source.accepted, run.findings);
    await printRunFigures(stack, run, source.accepted, cleanup);
    await findTroubleInAcceptedJobs(stack, source.accepted, cleanup.preCancel, run.findings);
    const report = findingsReport(run.findings);
    printApiErrors(stack.appLogs());

    expect(report).toBe('');
    expect(run.sent).toBeGreaterThanOrEqual(TOTAL);
    expect(dead).toEqual([]);
    expect(board.status).toBe(200);
    expect(boardQueues.length).toBeGreaterThan(0);
    expect(boardQueues.filter((queue) => queue.isPaused).map((queue) => queue.name)).toEqual([]);
    expect(api.child.exitCode).toBeNull();
    expect(health.status).toBe(200);
    expect(run.validAccepted).toHaveLength(run.validSlots);
    if (cleanup.ended instanceof Error) throw cleanup.ended;
    expect(stack.lambda.state.aliveInstances()).toEqual([]);
  });
});
