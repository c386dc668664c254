/**
 * The harness of the host-script tests: a real S3-protocol server, presigning storage, and scripts
 * run as the host runs them (`bash file`, HOME a scratch directory), with checks that no signature
 * reaches a log and no hostile name was executed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createS3Storage, type S3Storage } from '@inno-train/storage';
import { startS3Server, type S3ServerHandle } from '@inno-train/test-kit';
import type { z } from 'zod';

export const BUCKET = 'transfer-test';
export const MiB = 1024 * 1024;
export const STATUS = '.inno/status.json';

let server: S3ServerHandle;
let storage: S3Storage;
let root: string;
let runs = 0;
/** Every presigned URL handed to a script, to prove no signature reaches a log or a status file. */
const signatures: string[] = [];

/** Registers the server's start and stop with jest; call once at a test file's top level. */
export function useHostHarness(): { storage: () => S3Storage; root: () => string } {
  beforeAll(async () => {
    server = await startS3Server({ buckets: [BUCKET] });
    storage = createS3Storage({
      region: server.region,
      endpoint: server.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      presignExpiresSeconds: 600,
    });
    root = mkdtempSync(join(tmpdir(), 'host-scripts-'));
  });

  afterAll(async () => {
    storage?.destroy();
    await server?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });
  return { storage: () => storage, root: () => root };
}

export function remember(url: string): string {
  const signature = /X-Amz-Signature=([0-9a-f]+)/.exec(url)?.[1];
  if (!signature) throw new Error('not a presigned URL');
  signatures.push(signature);
  return url;
}

export async function putObject(key: string, body: Buffer): Promise<void> {
  const res = await fetch(await storage.presignPut(BUCKET, key), { method: 'PUT', body });
  if (!res.ok) throw new Error(`setup PUT ${key} failed: ${res.status}`);
}

export async function getObject(key: string): Promise<Buffer> {
  const res = await fetch(await storage.presignGet(BUCKET, key));
  if (!res.ok) throw new Error(`GET ${key} failed: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** Runs a script as the host would (`bash file`), from a scratch directory where canaries would land. */
export function runOnHost(script: string, env: Record<string, string> = {}): { code: number | null; log: string } {
  const { cwd, file } = scriptFile(script);
  const out = spawnSync('bash', [file], { cwd, encoding: 'utf8', env: { ...process.env, HOME: root, ...env }, timeout: 120_000 });
  expect(readdirSync(cwd)).toEqual([]);
  return { code: out.status, log: `${out.stdout}${out.stderr}` };
}

/** runOnHost without blocking this process: for tests that serve the script's requests themselves. */
export async function runOnHostAsync(script: string): Promise<{ code: number | null; log: string }> {
  const { cwd, file } = scriptFile(script);
  const child = spawn('bash', [file], { cwd, env: { ...process.env, HOME: root }, timeout: 120_000 });
  let log = '';
  child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  const [code] = (await once(child, 'close')) as [number | null];
  expect(readdirSync(cwd)).toEqual([]);
  return { code, log };
}

function scriptFile(script: string): { cwd: string; file: string } {
  runs += 1;
  const cwd = join(root, `cwd-${runs}`);
  mkdirSync(cwd);
  const file = join(root, `script-${runs}.sh`);
  writeFileSync(file, script, { mode: 0o700 });
  return { cwd, file };
}

export function newJobDir(): string {
  const dir = join(root, `job-${runs + 1}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  return dir;
}

/** The result the script wrote, parsed as the orchestrator parses it. */
export function readStatus<T>(jobDir: string, schema: z.ZodType<T>): { raw: string; status: T } {
  const raw = readFileSync(join(jobDir, STATUS), 'utf8');
  return { raw, status: schema.parse(JSON.parse(raw)) };
}

export function expectNoSecrets(...texts: string[]): void {
  for (const text of texts) {
    expect(text).not.toMatch(/X-Amz-(Signature|Credential)/i);
    for (const signature of signatures) expect(text).not.toContain(signature);
  }
}

/** No file named like a canary anywhere under the test root: no name was ever executed. */
export function expectNoCanary(): void {
  const found = spawnSync('find', [root, '-name', 'canary*'], { encoding: 'utf8' }).stdout;
  expect(found).toBe('');
}
