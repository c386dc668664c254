/**
 * Host chaos, the mirror of the worker crash points: a job's host dies (every process of the
 * instance killed while the cloud still says `active`) or hangs (every process stopped) at a chosen
 * SSH operation of a chosen stage, with that operation in flight. Shared by the pipeline test (each
 * point once, outcomes asserted) and the benchmark (each point several times, times printed).
 */
import type { ChaosRule } from '@inno-train/test-kit';
import { waitFor } from '@inno-train/test-kit';
import { ENDLESS_SCRIPT } from './fixtures';
import { getJob, submitJob, tinyJob, waitForJobEnd } from './jobs';
import type { Stack } from './stack';

/** What the job must end as once its host died at the point. */
export type ChaosOutcome =
  /** failed with host_lost, every instance terminated */
  | 'host_lost'
  /** a bad boot: the instance was given back and the job went on, on a new one, to success */
  | 'relaunched'
  /** retry.onHostLost: the job started over on a new instance and succeeded */
  | 'restarted'
  /** the job was being cancelled: it ends cancelled, the instance terminated all the same */
  | 'cancelled';

export interface KillPoint {
  /** The SSH session label of the operation (as the workers log it). */
  name: string;
  rule: ChaosRule;
  /** kill: the host dies (the default); pause: every process of it stops, connections stay open. */
  action?: 'kill' | 'pause';
  expect: ChaosOutcome;
  /** The job is cancelled during training, so the point is in teardown's stop of the process. */
  cancelDuringTraining?: boolean;
  /** After the fault, Lambda's health check also fails: the API says `unhealthy`. */
  cloudSaysUnhealthy?: boolean;
}

const exec = (pattern: string): ChaosRule => ({ kind: 'exec', pattern });
/**
 * A host-protocol command (@inno-train/host-protocol): a script rendered with a data block whose
 * first line names the script and the task, e.g. `# ---- data of check-task.sh for train ----`.
 */
const protocol = (script: 'start-task' | 'check-task' | 'wait-task', task: 'stage-in' | 'train' | 'stage-out'): ChaosRule =>
  exec(`^# ---- data of ${script}\\.sh for ${task} ----$`);
/** Every SSH operation of every stage, recognised on the host by the command it runs. */
export const KILL_POINTS: KillPoint[] = [
  { name: 'boot:gpu-check', rule: exec('nvidia-smi'), expect: 'relaunched' },
  // A stage start is one command: the layout, the reset, the task's files on stdin, the start.
  { name: 'stage-in:start', rule: protocol('start-task', 'stage-in'), expect: 'host_lost' },
  // A transfer's check waits on the host for its end (wait-task.sh).
  { name: 'stage-in:check', rule: protocol('wait-task', 'stage-in'), expect: 'host_lost' },
  { name: 'train:start', rule: protocol('start-task', 'train'), expect: 'host_lost' },
  { name: 'train:poll', rule: protocol('check-task', 'train'), expect: 'host_lost' },
  { name: 'stage-out:list', rule: exec('-type f -printf'), expect: 'host_lost' },
  { name: 'stage-out:start', rule: protocol('start-task', 'stage-out'), expect: 'host_lost' },
  { name: 'stage-out:check', rule: protocol('wait-task', 'stage-out'), expect: 'host_lost' },
  // kill-task.sh for train, in the mode that waits for the group to end (the monitor's stop does not wait).
  { name: 'teardown:stop-training', rule: exec('^INNO_WAIT=yes$'), expect: 'cancelled', cancelDuringTraining: true },
];

/** The same death with retry.onHostLost, and a host that hangs in the middle of a stage start (its files on the way). */
export const EXTRA_POINTS: (KillPoint & { retry?: boolean; label: string })[] = [
  { label: 'train:start (retry.onHostLost)', name: 'train:start', rule: protocol('start-task', 'train'), expect: 'restarted', retry: true },
  {
    label: 'stage-in:start (host hangs)',
    name: 'stage-in:start',
    rule: protocol('start-task', 'stage-in'),
    expect: 'host_lost',
    action: 'pause',
  },
  {
    label: 'train:poll (host hangs, cloud says unhealthy)',
    name: 'train:poll',
    rule: protocol('check-task', 'train'),
    expect: 'host_lost',
    action: 'pause',
    cloudSaysUnhealthy: true,
  },
];

export interface KillPointRun {
  point: string;
  jobId: string;
  instanceId: string;
  /** From the host's death (or hang) to Lambda accepting the instance's termination (billing stops). */
  msToTermination: number;
  job: any;
}

/** Runs one job to the point, kills (or pauses) its host there, and waits for the job to end. */
export async function runKillPoint(stack: Stack, point: KillPoint & { retry?: boolean }, endTimeoutMs = 120_000): Promise<KillPointRun> {
  const body = tinyJob(
    { type: 'gpu_1x_a10' },
    {
      metadata: { hostChaos: JSON.stringify(point.rule), killPoint: point.name },
      ...(point.cancelDuringTraining ? { script: { inline: ENDLESS_SCRIPT, filename: 'train.py' } } : {}),
      ...(point.retry ? { retry: { onHostLost: 1 } } : {}),
    },
  );
  const jobId = await submitJob(stack, body);
  const instanceId = await waitFor(() => stack.lambda.state.ledger().find((e) => e.jobTag === jobId)?.id, {
    timeoutMs: 30_000,
    description: `job ${jobId} to launch`,
  });
  const host = await waitFor(() => stack.hosts.get(instanceId), { timeoutMs: 30_000, description: `the host of ${instanceId} to start` });
  if (point.cancelDuringTraining) {
    await waitFor(async () => ((await getJob(stack, jobId)).progress?.step ?? 0) >= 1 || undefined, {
      timeoutMs: 60_000,
      description: `job ${jobId} to train`,
    });
    const cancelled = await stack.api(`/v1/jobs/${jobId}/cancel`, { method: 'POST' });
    if (cancelled.status !== 200) throw new Error(`cancel answered ${cancelled.status}: ${cancelled.text}`);
  }
  await host.waitForChaos(60_000).catch(async (error: unknown) => {
    throw new Error(`${point.name} never reached its host (job ${JSON.stringify(await getJob(stack, jobId))}): ${String(error)}`);
  });
  const diedAt = Date.now();
  if (point.action === 'pause') await host.pause();
  else await stack.lambda.state.killInstanceHost(instanceId);
  if (point.cloudSaysUnhealthy) stack.lambda.state.markUnhealthy(instanceId);
  const job = await waitForJobEnd(stack, jobId, endTimeoutMs);
  const terminatedAt = stack.lambda.state.ledger().find((e) => e.id === instanceId)?.terminatedAt;
  if (terminatedAt === undefined) throw new Error(`instance ${instanceId} of job ${jobId} ended ${job.status} but was never terminated`);
  // A paused host is torn down with its processes stopped; let them go so the stack can stop.
  if (point.action === 'pause') await host.kill();
  return { point: point.name, jobId, instanceId, msToTermination: terminatedAt - diedAt, job };
}

/** Runs `work` over `items`, at most `limit` at a time, keeping the order of the results. */
export async function inBatches<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i]!);
    }),
  );
  return results;
}

/** The env a host-chaos stack runs with: fast keepalives and a short grace, so a run takes seconds. */
export const HOST_CHAOS_ENV = {
  UNREACHABLE_GRACE_MS: '10000',
  SSH_KEEPALIVE_INTERVAL_MS: '500',
  SSH_KEEPALIVE_COUNT_MAX: '3',
  SSH_CONNECT_TIMEOUT_MS: '5000',
  HOST_RECHECK_MS: '250',
  CLOUD_WATCH_MS: '1000',
  LOG_LEVEL: 'debug',
};
