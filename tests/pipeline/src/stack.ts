import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startLambdaSimulator, type LambdaSimulator, type SimInstanceType } from '@inno-train/lambda-simulator';
import { createS3Storage } from '@inno-train/storage';
import {
  ensureUbuntuUser,
  freePort,
  generateSshKeyPair,
  readSocketMeter,
  socketMeterPreloadPath,
  startS3Server,
  startLightHostProcess,
  startSshHost,
  deleteNamespace,
  waitFor,
  type ChaosRule,
  type LightHostServer,
  type S3ServerHandle,
  type SshHost,
} from '@inno-train/test-kit';
import { unwatchApi, watchApi } from './api-contract';
import { startApp, type AppName, type AppProcess } from './processes';
import { startThrottleProxy } from './throttle-proxy';

export interface StackOptions {
  /** First octet-4 of the loopback addresses handed to instances (each stack its own range). */
  ipBase: number;
  /** The first three octets of those addresses, with the dot; default `127.0.0.`. */
  ipPrefix?: string;
  bootDelayMs?: number;
  replicas?: Partial<Record<AppName, number>>;
  extraEnv?: Record<string, string>;
  /** The simulator's rate limits (off by default); the provisioners are paced to the same figures. */
  rateLimits?: { generalPerSecond: number; launchMinIntervalMs: number; launchPerMinute: number };
  instanceTypes?: SimInstanceType[];
  /** A Redis of the stack's own instead of the machine's (for restarting it mid-run). */
  redisUrl?: string;
  /**
   * Hosts run every SSH session through test-kit's chaos hook. A job whose metadata has
   * `hostChaos` (a JSON ChaosRule) gets that rule on its first instance before the instance is
   * handed out, so the rule is in place before the first SSH operation.
   */
  hostChaos?: boolean;
  /** Named tenants, written to an API_KEYS_FILE; each gets a generated key (`stack.tenantKeys`). */
  tenants?: StackTenant[];
  /**
   * Instances are served by one light host server (test-kit's light-host.ts: ssh2, bash per
   * command) in a child process of its own (light-host-process.ts: its crypto and its forks stay off
   * this event loop) instead of one OpenSSH host each, for scale benchmarks. Addresses past
   * `<ipPrefix>254` continue in the next /24 (127.0.15.254, then 127.0.16.1, ...). No chaos.
   */
  lightHosts?: boolean;
  /**
   * The apps (and so the hosts' presigned URLs) reach S3 through a throttling, fault-injecting proxy
   * (throttle-proxy.ts, `stack.s3Proxy`), capping each connection at this many bytes/s (0: no cap).
   * The test's own S3 client still talks to the server directly.
   */
  s3Proxy?: { bytesPerSecond: number };
}

/** One entry of the stack's keys file, without its key (generated). */
export interface StackTenant {
  name: string;
  role?: 'client' | 'admin';
  allowedPrefixes?: string[];
  maxConcurrentJobs?: number;
  monthlyBudgetUsd?: number;
}

export const DEFAULT_TEST_TYPES: SimInstanceType[] = [
  {
    name: 'gpu_1x_a10',
    description: '1x A10 (24 GB PCIe)',
    gpuDescription: 'A10 (24 GB PCIe)',
    priceCentsPerHour: 75,
    specs: { vcpus: 30, memory_gib: 200, storage_gib: 1400, gpus: 1 },
    capacity: { 'us-east-1': 20, 'us-west-1': 20 },
  },
  {
    name: 'gpu_8x_h100_sxm5',
    description: '8x H100 (80 GB SXM5)',
    gpuDescription: 'H100 (80 GB SXM5)',
    priceCentsPerHour: 2392,
    specs: { vcpus: 208, memory_gib: 1800, storage_gib: 24780, gpus: 8 },
    capacity: { 'us-east-1': 0 },
  },
];

export const BUCKET = 'inno-test';
export const SSH_PORT = 2222;

/** Every secret the stack holds, for leak checks. */
export interface StackSecrets {
  /** The stack's own admin key (API_ADMIN_KEYS): the default caller of `stack.api`. */
  apiKey: string;
  /** Each configured tenant's key, by name. */
  tenantKeys: Record<string, string>;
  lambdaApiKey: string;
  s3SecretKey: string;
  sshPassphrase: string;
  sshPrivateKey: string;
}

/**
 * The whole service on real parts: Redis, an S3 server, the Lambda simulator whose instances are
 * namespaced OpenSSH hosts, and the four apps as separate processes.
 */
export async function startStack(options: StackOptions) {
  await ensureUbuntuUser();
  const workDir = mkdtempSync(join(tmpdir(), 'inno-stack-'));
  const namespace = `t${randomBytes(4).toString('hex')}`;
  const secrets: StackSecrets = {
    apiKey: `itk_${randomBytes(16).toString('hex')}`,
    tenantKeys: Object.fromEntries((options.tenants ?? []).map((t) => [t.name, `itk_${randomBytes(16).toString('hex')}`])),
    lambdaApiKey: `lambda_${randomBytes(16).toString('hex')}`,
    s3SecretKey: 'S3RVER',
    sshPassphrase: `pp_${randomBytes(12).toString('hex')}`,
    sshPrivateKey: '',
  };
  const keys = generateSshKeyPair({ passphrase: secrets.sshPassphrase });
  secrets.sshPrivateKey = keys.privateKey;
  const keyPath = join(workDir, 'id_ed25519');
  writeFileSync(keyPath, keys.privateKey);
  chmodSync(keyPath, 0o600);

  const s3 = await startS3Server({ buckets: [BUCKET] });
  const s3Proxy = options.s3Proxy
    ? await startThrottleProxy({ upstream: s3.endpoint, bytesPerSecond: options.s3Proxy.bytesPerSecond })
    : undefined;
  const hosts = new Map<string, SshHost>();
  if (options.lightHosts && options.hostChaos) throw new Error('lightHosts and hostChaos cannot be combined');
  const lightServer: LightHostServer | undefined = options.lightHosts ? await startLightHostProcess() : undefined;
  const switches = { silentHosts: 0 };
  let nextIp = options.ipBase;
  const lambda = await startLambdaSimulator({
    apiKey: secrets.lambdaApiKey,
    bootDelayMs: options.bootDelayMs ?? 300,
    rateLimits: options.rateLimits ?? false,
    jobTagKey: 'inno-train:job',
    instanceTypes: options.instanceTypes ?? DEFAULT_TEST_TYPES,
    hosts: {
      async start(req) {
        const prefix = options.ipPrefix ?? '127.0.0.';
        const ip = lightServer ? instanceAddress(prefix, nextIp++) : `${prefix}${nextIp++}`;
        // A "silent" host gets an address but no sshd: the instance is active and never answers SSH.
        if (switches.silentHosts > 0) {
          switches.silentHosts--;
          return { ip };
        }
        const host = lightServer
          ? await lightServer.startHost({ ip, port: SSH_PORT, authorizedKeys: req.publicKeys })
          : await startSshHost({ ip, port: SSH_PORT, authorizedKeys: req.publicKeys, chaos: options.hostChaos === true });
        if (options.hostChaos) await armChaos(host, req.instanceId);
        hosts.set(req.instanceId, host);
        return { ip };
      },
      async stop(instanceId) {
        await hosts.get(instanceId)?.kill();
      },
    },
  });

  const chaosArmed = new Set<string>();
  async function armChaos(host: SshHost, instanceId: string): Promise<void> {
    const jobId = lambda.state.instance(instanceId)?.tags.find((t) => t.key === 'inno-train:job')?.value;
    if (!jobId || chaosArmed.has(jobId)) return;
    chaosArmed.add(jobId);
    const rule = (await callApi(baseUrl, secrets.apiKey, `/v1/jobs/${jobId}`, {})).json?.metadata?.hostChaos;
    if (typeof rule === 'string') await host.setChaosRule(JSON.parse(rule) as ChaosRule);
  }

  const apiPort = await freePort();
  const redisUrl = options.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const env: Record<string, string> = {
    REDIS_URL: redisUrl,
    INNO_NAMESPACE: namespace,
    LOG_LEVEL: 'info',
    API_PORT: String(apiPort),
    API_HOST: '127.0.0.1',
    API_ADMIN_KEYS: secrets.apiKey,
    ...(options.tenants ? { API_KEYS_FILE: writeKeysFile(workDir, options.tenants, secrets.tenantKeys) } : {}),
    S3_ENDPOINT: s3Proxy?.endpoint ?? s3.endpoint,
    S3_REGION: s3.region,
    S3_FORCE_PATH_STYLE: 'true',
    S3_BUCKET: BUCKET,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    LAMBDA_API_URL: lambda.url,
    LAMBDA_API_KEY: secrets.lambdaApiKey,
    LAMBDA_REQUESTS_PER_SECOND: String(options.rateLimits?.generalPerSecond ?? 50),
    LAMBDA_LAUNCH_MIN_INTERVAL_MS: String(options.rateLimits?.launchMinIntervalMs ?? 0),
    LAMBDA_LAUNCHES_PER_MINUTE: String(options.rateLimits?.launchPerMinute ?? 1000),
    SSH_PRIVATE_KEY_PATH: keyPath,
    SSH_KEY_PASSPHRASE: secrets.sshPassphrase,
    SSH_USER: 'ubuntu',
    SSH_PORT: String(SSH_PORT),
    BOOT_POLL_MS: '250',
    TRANSFER_POLL_MS: '250',
    TRAIN_POLL_MS: '250',
    TERMINATE_POLL_MS: '250',
    SHUTDOWN_DEADLINE_MS: '5000',
    // Tests and benchmarks poll every job several times a second; the per-key limit (600/min by
    // default, tested in apps/api) would turn their waits into 429s and skew every figure.
    API_RATE_LIMIT_PER_MINUTE: '1000000',
    ...options.extraEnv,
  };
  const meter = socketMeterPreloadPath();
  const apps: AppProcess[] = [];
  for (const app of ['api', 'provisioner', 'transfer', 'monitor'] as const) {
    for (let i = 0; i < (options.replicas?.[app] ?? 1); i++) apps.push(startApp(app, `${app}-${i}`, env, workDir, meter));
  }
  const baseUrl = `http://127.0.0.1:${apiPort}`;
  // Under jest, every answer from here on is validated against the document this API serves (api-contract.ts).
  watchApi(baseUrl);
  await waitFor(async () => (await fetch(`${baseUrl}/healthz`).catch(() => null))?.ok, {
    timeoutMs: 20_000,
    description: 'the API to answer /healthz',
  });
  // Workers log "<app> started" once their queues are consumed (the provisioner after its SSH key is registered).
  for (const app of apps.filter((a) => a.app !== 'api')) {
    await waitFor(() => existsSync(app.logFile) && readFileSync(app.logFile, 'utf8').includes(`"msg":"${app.app} started"`), {
      timeoutMs: 20_000,
      description: `${app.name} to start`,
    });
  }
  const storage = createS3Storage({
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });

  return {
    baseUrl,
    namespace,
    secrets,
    s3,
    lambda,
    /** Between the apps and S3 when `s3Proxy` was asked for. */
    s3Proxy,
    hosts,
    apps,
    storage,
    workDir,
    switches,
    api: (path: string, init: { method?: string; body?: unknown; key?: string | null } = {}) =>
      callApi(baseUrl, secrets.apiKey, path, init),
    /** SIGKILLs an app process (a worker dying at any line) and starts a replacement under the same name. */
    async killAndRestart(index: number, extraEnv: Record<string, string> = {}): Promise<AppProcess> {
      const victim = apps[index]!;
      await victim.stop('SIGKILL');
      apps[index] = startApp(victim.app, victim.name, { ...env, ...extraEnv }, workDir, meter);
      return apps[index];
    },
    /** Total bytes received over sockets by every app process so far. */
    bytesReceivedByApps(): number {
      return apps.reduce((sum, app) => sum + (readSocketMeter(app.meterFile)?.bytesRead ?? 0), 0);
    },
    appLogs(): string {
      return apps.map((app) => readFileSync(app.logFile, 'utf8')).join('\n');
    },
    async stop() {
      unwatchApi(baseUrl);
      await Promise.all(apps.map((app) => app.stop()));
      await lambda.close();
      await Promise.all([...hosts.values()].map((host) => host.kill()));
      await lightServer?.close();
      await s3Proxy?.close();
      await s3.close();
      await cleanRedis(redisUrl, namespace);
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

export type Stack = Awaited<ReturnType<typeof startStack>>;

/** The nth address from `prefix` (`127.a.b.`); past .254 it goes on in the next /24. */
function instanceAddress(prefix: string, n: number): string {
  if (n <= 254) return `${prefix}${n}`;
  const [a, b, c] = prefix.split('.').map(Number);
  const third = c! + Math.floor((n - 1) / 254);
  if (third > 255) throw new Error(`No loopback address left after ${prefix}254 (instance ${n})`);
  return `${a}.${b}.${third}.${((n - 1) % 254) + 1}`;
}

async function callApi(baseUrl: string, apiKey: string, path: string, init: { method?: string; body?: unknown; key?: string | null }) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const key = init.key === undefined ? apiKey : init.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  const response = await fetch(`${baseUrl}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers,
    body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
  });
  const text = await response.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: response.status, json, text };
}

function writeKeysFile(workDir: string, tenants: StackTenant[], keys: Record<string, string>): string {
  const path = join(workDir, 'api-keys.json');
  writeFileSync(path, JSON.stringify({ keys: tenants.map((tenant) => ({ ...tenant, key: keys[tenant.name] })) }), { mode: 0o600 });
  return path;
}

async function cleanRedis(url: string, namespace: string): Promise<void> {
  const redis = new Redis(url);
  await deleteNamespace(redis, namespace);
  await redis.quit();
}

export type { S3ServerHandle, LambdaSimulator };
