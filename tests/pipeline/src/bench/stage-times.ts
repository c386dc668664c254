/**
 * Benchmark (issue 18): where a pipeline-test job's transfer stages spend their time. Runs the job
 * of pipeline.test.ts's first case (a 4 MiB file and a 3-object prefix in, the checksum script,
 * its outputs out) BENCH_JOBS times (default 5) one after another on one stack, and prints per stage:
 * - the stage's time: its status event to the next status event;
 * - start overhead: the status event to the engine's start on the host;
 * - end overhead: the engine's end on the host to the next status event;
 * - the engine's own time on the host.
 * The engine's times come from the transfer app's "transfer finished on the host" log lines (host
 * clock; here the same machine). Code without those lines (before issue 18) prints the stage times only.
 * BENCH_TRANSFER_POLL_MS sets TRANSFER_POLL_MS (default 250, as in the pipeline tests).
 * Bounded: BENCH_JOBS jobs, 2 minutes each.
 * Run (after building): npm run bench:stage-times -w tests/pipeline
 */
import { readFileSync } from 'node:fs';
import { BUCKET, CHECKSUM_SCRIPT, dataset, getEvents, putObject, startStack, submitJob, testS3Client, waitForJobEnd, type Stack } from '..';

const JOBS = Number(process.env.BENCH_JOBS ?? 5);
/** The transfer apps' TRANSFER_POLL_MS: the pipeline tests' 250 ms unless set (its default in production: 3 s before issue 18, 10 s since). */
const POLL_MS = process.env.BENCH_TRANSFER_POLL_MS ?? '250';

interface HostTimes {
  startedAt: number;
  finishedAt: number;
}

interface StageFigures {
  stageMs: number | null;
  startMs: number | null;
  endMs: number | null;
  hostMs: number | null;
}

const STAGES = [
  { name: 'staging_in', task: 'stage-in', next: 'training' },
  { name: 'staging_out', task: 'stage-out', next: 'succeeded' },
] as const;

/** The engine's start and end per job and task, from the transfer app's log. */
function hostTimes(stack: Stack): Map<string, HostTimes> {
  const times = new Map<string, HostTimes>();
  for (const app of stack.apps.filter((a) => a.app === 'transfer')) {
    for (const line of readFileSync(app.logFile, 'utf8').split('\n')) {
      if (!line.includes('transfer finished on the host')) continue;
      const entry = JSON.parse(line) as { jobId?: string; task?: string; hostStartedAt?: number; hostFinishedAt?: number };
      if (entry.jobId && entry.task && entry.hostStartedAt !== undefined && entry.hostFinishedAt !== undefined) {
        times.set(`${entry.jobId}/${entry.task}`, { startedAt: entry.hostStartedAt, finishedAt: entry.hostFinishedAt });
      }
    }
  }
  return times;
}

async function figuresOf(stack: Stack, id: string, times: Map<string, HostTimes>): Promise<Record<string, StageFigures>> {
  const events = await getEvents(stack, id);
  const status = (name: string) => {
    const found = events.find((e) => e.type === 'status' && e.data?.status === name);
    return found ? Date.parse(found.at) : null;
  };
  const out: Record<string, StageFigures> = {};
  for (const stage of STAGES) {
    const from = status(stage.name);
    const to = status(stage.next);
    const host = times.get(`${id}/${stage.task}`);
    out[stage.name] = {
      stageMs: from !== null && to !== null ? to - from : null,
      startMs: host && from !== null ? host.startedAt - from : null,
      endMs: host && to !== null ? to - host.finishedAt : null,
      hostMs: host ? host.finishedAt - host.startedAt : null,
    };
  }
  return out;
}

function median(values: (number | null)[]): string {
  const known = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  if (known.length === 0) return '–';
  return `${(known[Math.floor((known.length - 1) / 2)]! / 1000).toFixed(2)} s`;
}

async function main(): Promise<void> {
  const stack = await startStack({ ipBase: 60, ipPrefix: '127.0.24.', extraEnv: { TRANSFER_POLL_MS: POLL_MS } });
  const s3 = testS3Client(stack.s3);
  try {
    await putObject(s3, BUCKET, 'data/train.jsonl', dataset(4 * 1024 * 1024).body);
    for (const [i, size] of [1024, 1536, 512].entries()) await putObject(s3, BUCKET, `data/eval/part-${i}.bin`, dataset(size * 1024).body);
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const id = await submitJob(stack, {
        name: 'stage-times',
        instance: { type: 'gpu_1x_a10' },
        inputs: { train: `s3://${BUCKET}/data/train.jsonl`, eval: `s3://${BUCKET}/data/eval/` },
        script: { inline: CHECKSUM_SCRIPT, filename: 'train.py' },
        config: { epochs: 3, lr: 0.0002 },
      });
      const done = await waitForJobEnd(stack, id, 120_000);
      if (done.status !== 'succeeded') throw new Error(`job ${id} ended ${done.status}: ${JSON.stringify(done.error)}`);
      ids.push(id);
    }
    const times = hostTimes(stack);
    const figures = await Promise.all(ids.map((id) => figuresOf(stack, id, times)));
    console.log(`\nstage times of ${JOBS} pipeline-test jobs (medians; TRANSFER_POLL_MS=${POLL_MS})`);
    console.log('| stage | stage time | start -> engine running | engine on the host | engine done -> next status |');
    console.log('|---|---|---|---|---|');
    for (const stage of STAGES) {
      const of = (pick: (f: StageFigures) => number | null) => median(figures.map((f) => pick(f[stage.name]!)));
      console.log(`| ${stage.name} | ${of((f) => f.stageMs)} | ${of((f) => f.startMs)} | ${of((f) => f.hostMs)} | ${of((f) => f.endMs)} |`);
    }
  } finally {
    s3.destroy();
    await stack.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
