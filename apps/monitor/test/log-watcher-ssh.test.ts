/**
 * The live tail on real parts: a real sshd host (127.0.21.10), the SSH executor's stream, the host
 * tail script and a training task started by the host protocol, real Redis. Lines the task writes
 * reach the store while it runs; its end wakes the train step with every byte stored once.
 */
import { createLogger } from '@inno-train/core';
import { jobDir, jobPath, startTaskCommand, taskScriptPath } from '@inno-train/host-protocol';
import { createJobStore, createMetricsStore, newJobId } from '@inno-train/job-store';
import { createJobRecord } from '@inno-train/schemas';
import { SshExecutor } from '@inno-train/ssh-executor';
import { generateSshKeyPair, openRedisNamespace, startSshHost, waitFor, type SshHost } from '@inno-train/test-kit';
import { createLogLeases } from '../src/log-lease';
import { startLogWatcher } from '../src/log-watcher';

describe('the live tail over SSH', () => {
  const space = openRedisNamespace('log-watch-ssh');
  const { redis, namespace, prefix } = space;
  const store = createJobStore({ redis, namespace });
  const metrics = createMetricsStore({ redis, namespace });
  const keys = generateSshKeyPair();
  const ssh = new SshExecutor();
  let host: SshHost;

  beforeAll(async () => {
    host = await startSshHost({ ip: '127.0.21.10', authorizedKeys: [keys.publicKey] });
  });

  afterAll(async () => {
    await ssh.close();
    await host?.kill();
    await space.close();
  });

  it('stores lines while the task runs and wakes the train step once it ended, every byte once', async () => {
    const id = newJobId();
    const target = { host: host.ip, port: host.port, username: 'ubuntu', privateKey: keys.privateKey };
    await ssh.exec(target, `mkdir -p ${jobDir(id)}/.inno`);
    // Each step waits for a file the test creates once it saw the step before it stored.
    const script = [
      'wait_for() { while [ ! -e "$1" ]; do sleep 0.02; done; }',
      `printf '{"step": 1, "loss": 2}\\nhalf' >> train.log`,
      'wait_for go',
      `printf ' line\\n{"step": 2, "loss": 1}\\nlast' >> train.log`,
      'wait_for stop',
    ].join('\n');
    await ssh.upload(target, taskScriptPath(id, 'train'), script);
    expect((await ssh.exec(target, startTaskCommand(id, 'train'))).stdout).toBe('started\n');

    const record = createJobRecord(
      {
        id,
        spec: {
          instance: { type: 'gpu_1x_a10' },
          inputs: {},
          script: { inline: '', filename: 't.py' },
          command: 'true',
          outputUri: 's3://b/o/',
        },
      },
      { status: 'training' },
    );
    record.instance = {
      id: 'i-ssh',
      type: 'gpu_1x_a10',
      region: 'local',
      ip: host.ip,
      status: 'active',
      launchedAt: new Date().toISOString(),
      terminatedAt: null,
      priceCentsPerHour: 75,
    };
    record.training.startedAt = new Date().toISOString();
    await store.create(record, { at: new Date().toISOString(), type: 'status', stage: 'submit', message: 'submitted' });
    await store.seedLogOffset(id, 'i-ssh', 0);

    const woken: string[] = [];
    const watcher = startLogWatcher(
      {
        store,
        metrics,
        shell: { stream: ssh.stream.bind(ssh) },
        identity: { username: 'ubuntu', port: host.port, privateKey: keys.privateKey },
        leases: createLogLeases({ redis, prefix, token: 'one', ttlMs: 10_000 }),
        wake: async (jobId) => {
          woken.push(jobId);
          return true;
        },
        logger: createLogger({ name: 'test', level: 'silent' }),
      },
      { everyMs: 50, pollSeconds: 0.05 },
    );
    try {
      await waitFor(async () => (await store.log(id)) === '{"step": 1, "loss": 2}\n' || undefined, {
        timeoutMs: 10_000,
        description: 'the first line stored while the task runs',
      });
      // Progress is written just after the log piece it comes from (log-ingest.ts): wait for it too.
      const progress = await waitFor(async () => (await store.mustGet(id)).progress ?? undefined, {
        timeoutMs: 5_000,
        description: 'the progress of the first line',
      });
      expect(progress).toEqual({ step: 1, loss: 2 });
      await ssh.exec(target, `touch ${jobPath(id, 'go')}`);
      await waitFor(async () => (await store.log(id)) === '{"step": 1, "loss": 2}\nhalf line\n{"step": 2, "loss": 1}\n' || undefined, {
        timeoutMs: 10_000,
        description: 'the next lines',
      });
      await ssh.exec(target, `touch ${jobPath(id, 'stop')}`);
      await waitFor(() => woken.includes(id) || undefined, { timeoutMs: 10_000, description: 'the train step to be woken' });
      const log = (await ssh.exec(target, `cat ${jobPath(id, 'train.log')}`)).stdout;
      expect(await store.log(id)).toBe(log);
      expect(await store.logOffset(id, 'i-ssh')).toBe(Buffer.byteLength(log));
      expect((await metrics.page(id, undefined, 10)).points.map((point) => point.step)).toEqual([1, 2]);
    } finally {
      await watcher.close();
    }
  });
});
