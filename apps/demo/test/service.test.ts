import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureService, readDemoEnv, readRuntimeInfo, resolveApiKey, resolveS3 } from '../src';

/** A stand-in for apps/all-in-one: listens, writes runtime.json as the real one does, stops on SIGINT. */
const FAKE_SERVICE = `
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const dataDir = process.env.INNO_DATA_DIR;
const server = http.createServer((req, res) => res.writeHead(req.url === '/healthz' ? 200 : 404).end('{}'));
server.listen(0, '127.0.0.1', () => {
  const apiUrl = 'http://127.0.0.1:' + server.address().port;
  console.log('fake service on ' + apiUrl + ', train poll ' + process.env.TRAIN_POLL_MS);
  fs.writeFileSync(path.join(dataDir, 'runtime.json'), JSON.stringify({
    apiUrl, bullBoardUrl: apiUrl + '/admin/queues', provider: 'local', pid: process.pid,
    s3: { endpoint: 'http://127.0.0.1:9', region: 'us-east-1', bucket: 'inno-train', forcePathStyle: true, accessKeyId: 'a', secretAccessKey: 'b' },
  }));
});
process.on('SIGINT', () => { fs.writeFileSync(path.join(dataDir, 'stopped'), 'yes'); process.exit(0); });
`;

let dir: string;
const lines: string[] = [];
const log = (line: string) => void lines.push(line);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'demo-service-'));
  lines.length = 0;
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function deadUrl(): Promise<string> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

describe('ensureService', () => {
  it('starts the service when nothing answers, ignores a stale runtime.json, and stops it with SIGINT', async () => {
    const stale = await deadUrl();
    writeFileSync(
      join(dir, 'runtime.json'),
      JSON.stringify({
        apiUrl: stale,
        bullBoardUrl: stale,
        provider: 'local',
        pid: 2 ** 22 + 1,
        s3: { endpoint: null, region: 'x', bucket: 'old', forcePathStyle: false },
      }),
    );
    expect(readRuntimeInfo(dir)).toBeNull();
    const entry = join(dir, 'fake-service.js');
    writeFileSync(entry, FAKE_SERVICE);
    const service = await ensureService({
      dataDir: dir,
      repoRoot: dir,
      apiUrl: null,
      entry,
      env: { ...process.env, INNO_DATA_DIR: dir },
      log,
      startTimeoutMs: 20_000,
    });
    try {
      expect(service.started?.pid).toBeGreaterThan(0);
      expect(service.runtime?.pid).toBe(service.started?.pid);
      expect(service.apiUrl).not.toBe(stale);
      expect(resolveS3(service.runtime, {})).toMatchObject({ bucket: 'inno-train', forcePathStyle: true, accessKeyId: 'a' });
      expect(readFileSync(join(dir, 'demo-service.log'), 'utf8')).toContain(`fake service on ${service.apiUrl}, train poll 1000`);
    } finally {
      await service.stop();
    }
    expect(existsSync(join(dir, 'stopped'))).toBe(true);
  });

  it('uses a service that already answers and does not stop it', async () => {
    const server = createServer((_req, res) => res.writeHead(200).end('{"status":"ok"}')).listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const service = await ensureService({ dataDir: dir, repoRoot: dir, apiUrl: url, entry: join(dir, 'never-run.js'), log });
      expect(service.started).toBeNull();
      expect(service.apiUrl).toBe(url);
      expect(service.runtime).toBeNull();
      await service.stop();
    } finally {
      server.close();
    }
  });

  it('reports the log tail when the service dies while starting', async () => {
    const entry = join(dir, 'broken.js');
    writeFileSync(entry, "console.error('Invalid configuration: S3_BUCKET is required'); process.exit(1);");
    await expect(
      ensureService({ dataDir: dir, repoRoot: dir, apiUrl: await deadUrl(), entry, log, startTimeoutMs: 20_000 }),
    ).rejects.toThrow(/exited \(1\)[\s\S]*S3_BUCKET is required/);
  });
});

describe('settings', () => {
  it('reads the environment and falls back to the data directory for the key', () => {
    const env = readDemoEnv(
      { INNO_DATA_DIR: dir, S3_BUCKET: 'b', S3_FORCE_PATH_STYLE: 'true', AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' },
      __dirname,
    );
    expect(env).toMatchObject({ dataDir: dir, apiUrl: null, apiKey: null, instanceType: 'gpu_1x_a10' });
    expect(existsSync(join(env.repoRoot, 'package.json'))).toBe(true);
    expect(resolveS3(null, env.s3)).toEqual({
      endpoint: null,
      region: 'us-east-1',
      bucket: 'b',
      forcePathStyle: true,
      accessKeyId: 'k',
      secretAccessKey: 's',
    });
    expect(() => resolveApiKey(env)).toThrow(/INNO_API_KEY/);
    writeFileSync(join(dir, 'api-key'), 'itk_from_file\n');
    expect(resolveApiKey(env)).toBe('itk_from_file');
    expect(resolveApiKey({ ...env, apiKey: 'itk_env' })).toBe('itk_env');
    expect(() => resolveS3(null, {})).toThrow(/S3_BUCKET/);
  });
});
