/**
 * The live tail on real Redis (store, metrics, leases) with a scripted host: a fake executor whose
 * `stream` plays tail-log.sh against an in-memory train.log (bytes from the offset in the rendered
 * command, `end` on stderr once the task stopped). Checks that every byte is stored once, lines
 * whole, metrics and progress as the poll stores them, that exactly one watcher tails a job, and
 * that another takes it over once the first died without releasing its lease.
 */
import { Writable } from 'node:stream';
import { createLogger, InfrastructureError } from '@inno-train/core';
import type { HostTarget, StreamHandlers, StreamOptions, StreamResult } from '@inno-train/host-port';
import { createJobStore, createMetricsStore, newJobId, type JobStore } from '@inno-train/job-store';
import { createJobRecord } from '@inno-train/schemas';
import { deleteNamespace, openRedisNamespace, waitFor } from '@inno-train/test-kit';
import { Redis } from 'ioredis';
import { createLogLeases } from '../src/log-lease';
import { cutPoint } from '../src/log-tail';
import { startLogWatcher, type LogWatcher, type LogWatcherDeps } from '../src/log-watcher';

const INSTANCE = 'i-0001';
const IP = '10.0.0.1';

/** A host's train.log and training task, as the tail sees them. */
class FakeHost {
  log: Buffer = Buffer.alloc(0);
  running = true;
  opened = 0;
  open = 0;
  /** Offsets the streams were opened from, in order. */
  froms: number[] = [];
  /** The next stream fails at once with a host error. */
  failNext = 0;
  readonly listeners = new Set<() => void>();

  write(text: string): void {
    this.log = Buffer.concat([this.log, Buffer.from(text, 'utf8')]);
    for (const listener of this.listeners) listener();
  }

  stop(): void {
    this.running = false;
    for (const listener of this.listeners) listener();
  }

  /** Plays tail-log.sh: bytes from the command's offset as written (in pieces of `piece` bytes), then `end`. */
  stream(command: string, handlers: StreamHandlers, options: StreamOptions, piece: number): Promise<StreamResult> {
    const from = Number(/^INNO_LOG_OFFSET=(\d+)$/m.exec(command)?.[1]);
    this.froms.push(from);
    this.opened++;
    if (this.failNext > 0) {
      this.failNext--;
      return Promise.reject(new InfrastructureError('ssh_connection_lost', 'scripted host failure', { retryable: true }));
    }
    this.open++;
    return new Promise((resolve, reject) => {
      let sent = from;
      const close = (outcome: () => void) => {
        this.listeners.delete(pump);
        options.signal.removeEventListener('abort', onAbort);
        this.open--;
        outcome();
      };
      const onAbort = () => close(() => reject(options.signal.reason));
      function pump(this: void): void {
        const running = host.running;
        while (host.log.length > sent) {
          const chunk = host.log.subarray(sent, Math.min(host.log.length, sent + piece));
          sent += chunk.length;
          handlers.onStdout(chunk);
        }
        if (!running) {
          handlers.onStderr?.(Buffer.from('end\n'));
          close(() => resolve({ exitCode: 0 }));
        }
      }
      // eslint-disable-next-line @typescript-eslint/no-this-alias
      const host = this;
      options.signal.addEventListener('abort', onAbort, { once: true });
      this.listeners.add(pump);
      queueMicrotask(pump);
    });
  }
}

describe('the live log tail', () => {
  const space = openRedisNamespace('log-watch');
  const { redis, namespace, prefix } = space;
  const store = createJobStore({ redis, namespace });
  const metrics = createMetricsStore({ redis, namespace });
  const watchers: LogWatcher[] = [];
  const firstRedises: Redis[] = [];
  const lines: string[] = [];
  const logger = createLogger({
    name: 'test',
    level: 'debug',
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    }),
  });

  afterEach(async () => {
    await Promise.all(watchers.splice(0).map((watcher) => watcher.close()));
    // Each test sees its own jobs only: the watcher tails every job in training.
    await deleteNamespace(redis, namespace);
  });

  afterAll(async () => {
    for (const connection of firstRedises) if (connection.status !== 'end') connection.disconnect();
    await space.close();
  });

  /** A job in training on its instance, its train step's poll done (the offset seeded), as the watcher finds it. */
  async function trainingJob(options: { seed?: boolean } = {}): Promise<string> {
    const id = newJobId();
    const record = createJobRecord(
      {
        id,
        spec: {
          instance: { type: 'gpu_1x_a10' },
          inputs: {},
          script: { inline: 'print(1)', filename: 'train.py' },
          command: 'python3 train.py',
          outputUri: 's3://b/o/',
        },
      },
      { status: 'training' },
    );
    record.instance = {
      id: INSTANCE,
      type: 'gpu_1x_a10',
      region: 'us-east-1',
      ip: IP,
      status: 'active',
      launchedAt: new Date().toISOString(),
      terminatedAt: null,
      priceCentsPerHour: 75,
    };
    record.training.startedAt = new Date().toISOString();
    await store.create(record, { at: new Date().toISOString(), type: 'status', stage: 'submit', message: 'submitted' });
    if (options.seed !== false) await store.seedLogOffset(id, INSTANCE, 0);
    return id;
  }

  interface Started {
    watcher: LogWatcher;
    woken: string[];
    lists: () => number;
  }

  /** A watcher on `host` with short timings; `leaseRedis` and `token` let a test give it its own lease connection. */
  function watch(host: FakeHost, options: { leaseRedis?: Redis; token?: string; ttlMs?: number; piece?: number } = {}): Started {
    const woken: string[] = [];
    let lists = 0;
    const counted: LogWatcherDeps['store'] = {
      ...store,
      list: (opts) => {
        lists++;
        return store.list(opts);
      },
    } as JobStore;
    const watcher = startLogWatcher(
      {
        store: counted,
        metrics,
        shell: {
          stream: (_target: HostTarget, command, handlers, streamOptions) =>
            host.stream(command, handlers, streamOptions, options.piece ?? 3),
        },
        identity: { username: 'ubuntu', port: 22, privateKey: 'unused' },
        leases: createLogLeases({
          redis: options.leaseRedis ?? redis,
          prefix,
          token: options.token ?? `t-${Math.random()}`,
          ttlMs: options.ttlMs ?? 10_000,
        }),
        wake: async (jobId) => {
          woken.push(jobId);
          return true;
        },
        logger,
      },
      { everyMs: 20, renewMs: 50, backoffMs: 50, maxBackoffMs: 200 },
    );
    watchers.push(watcher);
    return { watcher, woken, lists: () => lists };
  }

  it('stores whole lines as they arrive, metrics and progress with them, the rest at the end, and wakes the train step', async () => {
    const host = new FakeHost();
    const id = await trainingJob();
    const { woken } = watch(host);
    host.write('loading\n{"step": 1, "total_steps": 4, "loss": 2.5}\nhalf a li');
    await waitFor(async () => (await store.log(id)) === 'loading\n{"step": 1, "total_steps": 4, "loss": 2.5}\n' || undefined, {
      timeoutMs: 5000,
      description: 'the whole lines in the store',
    });
    expect((await store.mustGet(id)).progress).toEqual({ step: 1, totalSteps: 4, loss: 2.5 });
    expect(await store.logOffset(id, INSTANCE)).toBe(Buffer.byteLength('loading\n{"step": 1, "total_steps": 4, "loss": 2.5}\n'));
    host.write('ne\n{"step": 2, "loss": 1.5}\nno newline at the end, ünïcødé');
    host.stop();
    await waitFor(() => woken.includes(id) || undefined, { timeoutMs: 5000, description: 'the train step to be woken' });
    expect(await store.log(id)).toBe(host.log.toString('utf8'));
    expect(await store.logOffset(id, INSTANCE)).toBe(host.log.length);
    expect((await metrics.page(id, undefined, 10)).points.map((point) => [point.step, point.values])).toEqual([
      [1, { total_steps: 4, loss: 2.5 }],
      [2, { loss: 1.5 }],
    ]);
    expect((await store.mustGet(id)).progress).toEqual({ step: 2, loss: 1.5 });
    // Ended: not tailed again while the job waits for its poll step to move it on.
    expect(host.opened).toBe(1);
  });

  it('does not tail a job whose offset no poll has set, and does once it is set', async () => {
    const host = new FakeHost();
    const id = await trainingJob({ seed: false });
    const { lists } = watch(host);
    await waitFor(() => lists() >= 5 || undefined, { timeoutMs: 5000, description: 'five listings' });
    expect(host.opened).toBe(0);
    await store.seedLogOffset(id, INSTANCE, 0);
    await waitFor(() => host.open === 1 || undefined, { timeoutMs: 5000, description: 'the tail to open' });
  });

  it('reopens from the stored offset when the poll step stored the bytes first, storing each byte once', async () => {
    const host = new FakeHost();
    const id = await trainingJob();
    watch(host);
    await waitFor(() => host.open === 1 || undefined, { timeoutMs: 5000, description: 'the tail to open' });
    // The poll step reads the first line and stores it before the tail does.
    expect(await store.appendLogAt(id, INSTANCE, 0, 6, 'first\n')).toEqual({ appended: true, offset: 6 });
    host.write('first\nsecond\n');
    await waitFor(async () => (await store.log(id)) === 'first\nsecond\n' || undefined, { timeoutMs: 5000, description: 'both lines' });
    expect(host.froms).toEqual([0, 6]);
    host.write('third\n');
    await waitFor(async () => (await store.log(id)) === 'first\nsecond\nthird\n' || undefined, { timeoutMs: 5000, description: 'line 3' });
    expect(await store.logOffset(id, INSTANCE)).toBe(host.log.length);
  });

  it('backs off after a failed tail, logs why, and tails again', async () => {
    const host = new FakeHost();
    host.failNext = 1;
    const id = await trainingJob();
    watch(host);
    host.write('one\n');
    await waitFor(async () => (await store.log(id)) === 'one\n' || undefined, { timeoutMs: 5000, description: 'the line' });
    expect(host.opened).toBe(2);
    expect(lines.some((line) => line.includes(`Live tail of job ${id} failed (failure 1 in a row)`))).toBe(true);
  });

  it('lets exactly one of two watchers tail a job, and the other take over once the first died holding the lease', async () => {
    const host = new FakeHost();
    const id = await trainingJob();
    const firstRedis = new Redis(redis.options);
    firstRedises.push(firstRedis);
    const first = watch(host, { leaseRedis: firstRedis, token: 'first', ttlMs: 2000 });
    await waitFor(() => first.watcher.tailing().includes(id) || undefined, { timeoutMs: 5000, description: 'the first to tail' });
    const second = watch(host, { token: 'second', ttlMs: 2000 });
    const listed = second.lists();
    await waitFor(() => second.lists() >= listed + 5 || undefined, { timeoutMs: 5000, description: 'the second to look five times' });
    expect({ first: first.watcher.tailing(), second: second.watcher.tailing(), open: host.open }).toEqual({
      first: [id],
      second: [],
      open: 1,
    });
    host.write('before\n');
    await waitFor(async () => (await store.log(id)) === 'before\n' || undefined, { timeoutMs: 5000, description: 'the first line' });

    // The first replica dies: it reaches Redis no more, so its lease is neither renewed nor released.
    firstRedis.disconnect();
    await first.watcher.close();
    expect(await redis.get(`${prefix}:log-watch:${id}`)).toBe('first');
    await waitFor(() => second.watcher.tailing().includes(id) || undefined, { timeoutMs: 10_000, description: 'the second to take over' });
    expect(await redis.get(`${prefix}:log-watch:${id}`)).toBe('second');
    host.write('after\n');
    host.stop();
    await waitFor(() => second.woken.includes(id) || undefined, { timeoutMs: 5000, description: 'the end' });
    expect(await store.log(id)).toBe('before\nafter\n');
    expect(host.froms).toEqual([0, 7]);
  });

  it('releases its leases and closes its tails when closed', async () => {
    const host = new FakeHost();
    const id = await trainingJob();
    const first = watch(host, { token: 'first' });
    await waitFor(() => first.watcher.tailing().includes(id) || undefined, { timeoutMs: 5000, description: 'the first to tail' });
    await first.watcher.close();
    expect(await redis.exists(`${prefix}:log-watch:${id}`)).toBe(0);
    expect(host.open).toBe(0);
  });
});

describe('where a tail cuts what it received', () => {
  const cut = (text: string, ended: boolean, chunk = 1024) => cutPoint(Buffer.from(text, 'utf8'), ended, chunk);

  it.each([
    ['nothing', '', false, 0],
    ['a partial line while running', 'abc', false, 0],
    ['up to the last newline while running', 'a\nb\nc', false, 4],
    ['everything once ended', 'a\nb\nc', true, 5],
  ])('%s', (_name, text, ended, expected) => {
    expect(cut(text, ended)).toBe(expected);
  });

  it('cuts a line longer than the chunk at the chunk, never inside a character', () => {
    expect(cut('abcdefgh', false, 4)).toBe(4);
    // 'abé': 'é' is bytes 2-3; a 3-byte chunk would split it.
    expect(cut('abéd', false, 3)).toBe(2);
    expect(cut('a\nbcdefgh', false, 4)).toBe(2);
    expect(cut('abcdefgh\n', true, 4)).toBe(4);
  });
});
