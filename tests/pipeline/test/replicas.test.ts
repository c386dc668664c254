import { waitFor } from '@inno-train/test-kit';
import { BUCKET, putObject, startStack, testS3Client, type Stack } from '../src';

jest.setTimeout(180_000);

let stack: Stack;

beforeAll(async () => {
  // Debug logs carry one line per SSH session (host, label), which the test counts.
  stack = await startStack({ ipBase: 120, replicas: { provisioner: 2, transfer: 2, monitor: 2 }, extraEnv: { LOG_LEVEL: 'debug' } });
  const s3 = testS3Client(stack.s3);
  await putObject(s3, BUCKET, 'replicas/data.bin', Buffer.alloc(256 * 1024, 7));
  s3.destroy();
});

afterAll(async () => {
  await stack?.stop();
});

const SCRIPT = String.raw`
import json, os
size = os.path.getsize(os.environ['INPUT_DATA'])
for step in range(1, 4):
    print(json.dumps({"step": step, "total_steps": 3, "loss": 1.0 / step}), flush=True)
open(os.path.join(os.environ['OUTPUT_DIR'], 'size.txt'), 'w').write(str(size))
`;

describe('two replicas of every worker app', () => {
  it('carry concurrent jobs to success with exactly one instance and one training run per job', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await stack.api('/v1/jobs', {
        body: {
          name: `replica-${i}`,
          instance: { type: 'gpu_1x_a10' },
          inputs: { data: `s3://${BUCKET}/replicas/data.bin` },
          script: { inline: SCRIPT, filename: 'train.py' },
        },
      });
      expect(response.status).toBe(202);
      ids.push(response.json.id);
    }
    const jobs = await waitFor(
      async () => {
        const all = await Promise.all(ids.map(async (id) => (await stack.api(`/v1/jobs/${id}`)).json));
        return all.every((job) => ['succeeded', 'failed', 'cancelled'].includes(job.status) && job.instance?.terminatedAt)
          ? all
          : undefined;
      },
      { timeoutMs: 150_000, intervalMs: 300, description: 'every job to end with its instance terminated' },
    );

    expect(jobs.map((job) => job.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    const ledger = stack.lambda.state.ledger();
    for (const id of ids) {
      expect(ledger.filter((entry) => entry.jobTag === id)).toHaveLength(1);
      const events = (await stack.api(`/v1/jobs/${id}/events`)).json.data as { message: string }[];
      expect(events.filter((e) => e.message.startsWith('Started:'))).toHaveLength(1);
      expect(events.filter((e) => e.message.startsWith('Launched instance'))).toHaveLength(1);
      const log = (await stack.api(`/v1/jobs/${id}/logs`)).text;
      expect(log.match(/"step": 1,/g)).toHaveLength(1);
    }
    expect(stack.lambda.state.aliveInstances()).toHaveLength(0);
  });

  it("opened each SSH session that changes a host exactly once per job, and the hosts' sshd agrees on every count", async () => {
    const logs = stack.appLogs();
    const sessions = sshLinesByHost(logs, 'ssh session');
    const logins = sshLinesByHost(logs, 'ssh connection');
    const jobs = (await stack.api('/v1/jobs?limit=50')).json.data as { id: string; instance: { id: string; ip: string } }[];
    expect(jobs).toHaveLength(4);
    for (const job of jobs) {
      const mine = sessions.get(job.instance.ip) ?? [];
      const byLabel = countBy(mine.filter((s) => s.ok).map((s) => s.label));
      for (const label of ONCE_PER_JOB) expect({ label, count: byLabel[label] ?? 0 }).toEqual({ label, count: 1 });
      for (const label of POLLS) expect(byLabel[label] ?? 0).toBeGreaterThanOrEqual(1);
      // Nothing else: no stop, no kill, no second start under another name.
      const known = [...ONCE_PER_JOB, ...POLLS, ...CHECKPOINT_LISTINGS];
      expect(Object.keys(byLabel).filter((label) => !known.includes(label))).toEqual([]);
      // Every login the host's sshd accepted is one the workers reported: calls share connections,
      // so a job's many calls cost a few logins (one per worker process that reached the host).
      const host = stack.hosts.get(job.instance.id)!;
      const reported = (logins.get(job.instance.ip) ?? []).filter((s) => s.ok).length;
      expect(host.acceptedSessions()).toBe(reported);
      expect(reported).toBeLessThan(mine.filter((s) => s.ok).length);
      process.stdout.write(
        `replicas: job ${job.id}: ${host.acceptedSessions()} SSH logins (sshd) for ${mine.length} calls, ${JSON.stringify(byLabel)}\n`,
      );
    }
  });
});

/** Sessions that change the host: each must happen once per job, whichever replica runs the step. */
const ONCE_PER_JOB = [
  'boot:gpu-check',
  // Each start writes its task's files in the same command.
  'stage-in:start',
  'train:start',
  'stage-out:list',
  'stage-out:start',
];
/** Read-only checks, as many as the timing needs. */
const POLLS = ['probe', 'stage-in:check', 'train:poll', 'stage-out:check'];
/**
 * Read-only calls a short job may or may not get: listings of CHECKPOINT_DIR while training runs and
 * once it ended, and the live tail of train.log (log-watcher.ts; it starts after the first poll).
 */
const CHECKPOINT_LISTINGS = ['train:checkpoints-list', 'train:checkpoints-final-list', 'train:tail'];

interface SessionLine {
  host: string;
  label: string;
  ok: boolean;
}

/** The workers' debug lines `ssh session` (one per call) or `ssh connection` (one per login), by host. */
function sshLinesByHost(logs: string, msg: 'ssh session' | 'ssh connection'): Map<string, SessionLine[]> {
  const byHost = new Map<string, SessionLine[]>();
  for (const line of logs.split('\n')) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    const { ssh } = JSON.parse(line) as { ssh: SessionLine };
    byHost.set(ssh.host, [...(byHost.get(ssh.host) ?? []), ssh]);
  }
  return byHost;
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
