import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const DEFAULT_API_URL = 'http://127.0.0.1:3000';
export const DEFAULT_INSTANCE_TYPE = 'gpu_1x_a10';

export interface S3Settings {
  endpoint: string | null;
  region: string;
  bucket: string;
  forcePathStyle: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
}

/** `<dataDir>/runtime.json`, written by the all-in-one service (`npm start`) once it listens. */
export interface RuntimeInfo {
  apiUrl: string;
  bullBoardUrl: string;
  s3: S3Settings;
  provider: 'local' | 'lambda';
  /** The service's process id; lets a leftover file from a stopped service be told apart. */
  pid?: number;
}

/** Everything the demo takes from its environment, before any service is contacted. */
export interface DemoEnv {
  repoRoot: string;
  dataDir: string;
  /** INNO_API_URL, when set: it wins over runtime.json of a service we did not start. */
  apiUrl: string | null;
  apiKey: string | null;
  instanceType: string;
  s3: Partial<S3Settings>;
}

type Env = Record<string, string | undefined>;

/** The repository root: the nearest folder upwards whose package.json declares workspaces. */
export function findRepoRoot(from: string): string {
  let dir = from;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const parsed: unknown = JSON.parse(readFileSync(manifest, 'utf8'));
      if (typeof parsed === 'object' && parsed !== null && 'workspaces' in parsed) return dir;
    }
    if (dirname(dir) === dir) throw new Error(`No repository root (a package.json with "workspaces") above ${from}`);
    dir = dirname(dir);
  }
}

function nonEmpty(value: string | undefined): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed : null;
}

function envBoolean(value: string | undefined): boolean | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return ['1', 'true', 'yes', 'on'].includes(value.trim().toLowerCase());
}

export function readDemoEnv(env: Env, startDir: string): DemoEnv {
  const repoRoot = findRepoRoot(startDir);
  const s3: Partial<S3Settings> = {};
  const endpoint = nonEmpty(env.S3_ENDPOINT);
  if (endpoint) s3.endpoint = endpoint;
  const region = nonEmpty(env.S3_REGION) ?? nonEmpty(env.AWS_REGION);
  if (region) s3.region = region;
  const bucket = nonEmpty(env.S3_BUCKET);
  if (bucket) s3.bucket = bucket;
  const forcePathStyle = envBoolean(env.S3_FORCE_PATH_STYLE);
  if (forcePathStyle !== undefined) s3.forcePathStyle = forcePathStyle;
  const accessKeyId = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secretAccessKey = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  if (accessKeyId && secretAccessKey) Object.assign(s3, { accessKeyId, secretAccessKey });
  return {
    repoRoot,
    dataDir: nonEmpty(env.INNO_DATA_DIR) ?? join(repoRoot, '.data'),
    apiUrl: nonEmpty(env.INNO_API_URL)?.replace(/\/+$/, '') ?? null,
    apiKey: nonEmpty(env.INNO_API_KEY),
    instanceType: nonEmpty(env.INNO_DEMO_INSTANCE_TYPE) ?? DEFAULT_INSTANCE_TYPE,
    s3,
  };
}

export function runtimePath(dataDir: string): string {
  return join(dataDir, 'runtime.json');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks the shape field by field: a half-written or foreign file must not pass as settings. */
export function parseRuntimeInfo(text: string): RuntimeInfo | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isRecord(parsed) || !isRecord(parsed.s3)) return null;
  const { apiUrl, bullBoardUrl, provider, pid } = parsed;
  const { endpoint, region, bucket, forcePathStyle, accessKeyId, secretAccessKey } = parsed.s3;
  if (typeof apiUrl !== 'string' || typeof bullBoardUrl !== 'string') return null;
  if (provider !== 'local' && provider !== 'lambda') return null;
  if (!(endpoint === null || typeof endpoint === 'string') || typeof region !== 'string' || typeof bucket !== 'string') return null;
  if (typeof forcePathStyle !== 'boolean') return null;
  const s3: S3Settings = { endpoint, region, bucket, forcePathStyle };
  if (typeof accessKeyId === 'string' && typeof secretAccessKey === 'string') Object.assign(s3, { accessKeyId, secretAccessKey });
  const info: RuntimeInfo = { apiUrl: apiUrl.replace(/\/+$/, ''), bullBoardUrl, s3, provider };
  if (typeof pid === 'number') info.pid = pid;
  return info;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * runtime.json if present, valid and (when it names a pid) from a process that still runs: the
 * file outlives the service, and a stale one would point the demo at a dead S3 endpoint.
 */
export function readRuntimeInfo(dataDir: string, options: { requireAlive?: boolean } = {}): { info: RuntimeInfo; mtimeMs: number } | null {
  const file = runtimePath(dataDir);
  let text: string;
  let mtimeMs: number;
  try {
    text = readFileSync(file, 'utf8');
    mtimeMs = statSync(file).mtimeMs;
  } catch {
    return null;
  }
  const info = parseRuntimeInfo(text);
  if (!info) return null;
  if ((options.requireAlive ?? true) && info.pid !== undefined && !processAlive(info.pid)) return null;
  return { info, mtimeMs };
}

/** INNO_API_KEY, else `<dataDir>/api-key` (created by the service on its first start). */
export function resolveApiKey(demoEnv: DemoEnv): string {
  if (demoEnv.apiKey) return demoEnv.apiKey;
  const file = join(demoEnv.dataDir, 'api-key');
  const key = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  if (!key) throw new Error(`No API key: set INNO_API_KEY or start the service once (npm start) so that it writes ${file}`);
  return key;
}

/** runtime.json's S3 settings describe the service's own storage, so they win over the environment. */
export function resolveS3(runtime: RuntimeInfo | null, fromEnv: Partial<S3Settings>): S3Settings {
  if (runtime) return runtime.s3;
  if (!fromEnv.bucket) {
    throw new Error(
      'No S3 bucket: start the service with npm start (it writes runtime.json) or set S3_BUCKET (and S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)',
    );
  }
  return {
    endpoint: fromEnv.endpoint ?? null,
    region: fromEnv.region ?? 'us-east-1',
    bucket: fromEnv.bucket,
    forcePathStyle: fromEnv.forcePathStyle ?? false,
    ...(fromEnv.accessKeyId && fromEnv.secretAccessKey
      ? { accessKeyId: fromEnv.accessKeyId, secretAccessKey: fromEnv.secretAccessKey }
      : {}),
  };
}
