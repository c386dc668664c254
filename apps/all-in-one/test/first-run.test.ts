import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { freePort, waitFor } from '@inno-train/test-kit';

jest.setTimeout(180_000);

const REPO = join(__dirname, '..', '..', '..');

/** Pids of processes that run from, or work inside, the data directory (redis, s3, local instances). */
function processesUsing(dir: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.split(') ')[1]?.startsWith('Z')) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cmdline.includes(dir) || cwd.startsWith(dir)) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe('npm start on embedded defaults', () => {
  let dataDir: string;
  let service: ReturnType<typeof run> | undefined;

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'inno-first-run-'));
  });

  afterAll(async () => {
    if (service && service.child.exitCode === null) {
      service.child.kill('SIGKILL');
      await service.exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts with no configuration, runs the demo job to success, and leaves nothing running when stopped', async () => {
    const apiPort = await freePort();
    const redisPort = await freePort();
    const healthPort = await freePort();
    // Nothing answers on redisPort: the service must start its own redis-server there.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LANG: 'C.UTF-8',
      INNO_DATA_DIR: dataDir,
      API_PORT: String(apiPort),
      HEALTH_PORT: String(healthPort),
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      TRAIN_POLL_MS: '300',
      TRANSFER_POLL_MS: '300',
      BOOT_POLL_MS: '300',
      TERMINATE_POLL_MS: '300',
    };
    service = run(process.execPath, [join(REPO, 'apps/all-in-one/dist/main.js')], env);
    await waitFor(() => existsSync(join(dataDir, 'runtime.json')) && service!.output().includes('Ctrl-C stops everything'), {
      timeoutMs: 60_000,
      description: 'the service to start',
    }).catch((error: Error) => {
      throw new Error(`${error.message}\noutput so far:\n${service!.output()}`);
    });
    const banner = service.output();
    const apiKey = readFileSync(join(dataDir, 'api-key'), 'utf8').trim();
    expect(banner).toContain(`http://127.0.0.1:${apiPort}/v1`);
    expect(banner).toContain(apiKey);
    expect(banner).toContain('/admin/queues');
    expect(banner).toContain('curl -s -H "Authorization: Bearer');
    expect(processesUsing(dataDir).length).toBeGreaterThanOrEqual(2); // redis-server and the S3 server

    const demo = run(process.execPath, [join(REPO, 'apps/demo/dist/main.js')], { ...env, INNO_API_URL: `http://127.0.0.1:${apiPort}` });
    const demoExit = await demo.exited;
    expect({ code: demoExit, output: demoExit === 0 ? '' : demo.output() }).toEqual({ code: 0, output: '' });
    expect(demo.output()).toMatch(/succeeded/);
    // The client's outputs calls against the real service: listed, then fetched through the 302 from S3.
    expect(demo.output()).toMatch(/eval\.json \(\d+ B, downloaded through the API's redirect from S3\): \{ *"/);

    const list = await fetch(`http://127.0.0.1:${apiPort}/v1/jobs`, { headers: { authorization: `Bearer ${apiKey}` } });
    const [job] = (
      (await list.json()) as {
        data: {
          id: string;
          status: string;
          outputs: { key: string; size: number }[];
          instance: { terminatedAt: string | null };
          progress: { loss: number };
        }[];
      }
    ).data;
    expect(job?.status).toBe('succeeded');
    expect(job?.instance.terminatedAt).toBeTruthy();
    const runtime = JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8')) as {
      s3: { endpoint: string; region: string; bucket: string; accessKeyId: string; secretAccessKey: string };
    };
    const s3 = new S3Client({
      endpoint: runtime.s3.endpoint,
      region: runtime.s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: runtime.s3.accessKeyId, secretAccessKey: runtime.s3.secretAccessKey },
    });
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: runtime.s3.bucket, Prefix: `jobs/${job!.id}/output/` }));
    s3.destroy();
    const keys = (listed.Contents ?? []).map((object) => object.Key);
    expect(keys).toEqual(expect.arrayContaining([`jobs/${job!.id}/output/model.json`, `jobs/${job!.id}/output/config.yaml`]));
    expect(job!.outputs.map((o) => o.key)).toContain(`jobs/${job!.id}/output/model.json`);

    // One health server for the whole process: ready (Redis, every worker app), and one /metrics with the API's gauges.
    const health = `http://127.0.0.1:${healthPort}`;
    expect(await (await fetch(`${health}/readyz`)).json()).toEqual({ status: 'ok', checks: { redis: true, workers: true } });
    const metrics = await (await fetch(`${health}/metrics`)).text();
    expect(metrics).toContain('inno_jobs{status="succeeded",app="all-in-one"} 1');
    expect(metrics).toMatch(/^inno_job_stage_seconds_count\{app="all-in-one",stage="training"\} 1$/m);

    service.child.kill('SIGINT');
    expect(await service.exited).toBe(0);
    await waitFor(() => processesUsing(dataDir).length === 0, { timeoutMs: 10_000, description: 'every process of the service to end' });
  });
});
