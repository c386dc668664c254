import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository root: the nearest folder upwards whose package.json declares workspaces. */
export function repoRoot(from: string = __dirname): string {
  let dir = from;
  while (dirname(dir) !== dir) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && 'workspaces' in (JSON.parse(readFileSync(manifest, 'utf8')) as object)) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

/** The API key of a first start: generated once, kept (mode 0600) under the data directory. */
export function loadOrCreateApiKey(dataDir: string): { key: string; created: boolean } {
  const file = join(dataDir, 'api-key');
  if (existsSync(file)) return { key: readFileSync(file, 'utf8').trim(), created: false };
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const key = `itk_${randomBytes(24).toString('base64url')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return { key, created: true };
}

/** What `npm run demo` needs to find the running service. No secrets but the embedded S3's fixed pair. */
export interface RuntimeInfo {
  apiUrl: string;
  bullBoardUrl: string;
  provider: 'local' | 'lambda';
  s3: { endpoint: string | null; region: string; bucket: string; forcePathStyle: boolean; accessKeyId?: string; secretAccessKey?: string };
  pid: number;
}

export function writeRuntimeInfo(dataDir: string, info: RuntimeInfo): string {
  const file = join(dataDir, 'runtime.json');
  writeFileSync(file, JSON.stringify(info, null, 2), { mode: 0o600 });
  return file;
}
