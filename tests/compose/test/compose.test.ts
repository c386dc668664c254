import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  COMPOSE_CONFIG_ARGS,
  REPO_ROOT,
  composeConfig,
  composeMissingMessage,
  composeVariables,
  composeVersion,
  envReadsInApps,
  envSchemaKeys,
  parseDockerfile,
  parseEnvExample,
  runCommands,
  type ComposeConfig,
  type ComposeService,
} from '../src';

const APPS = ['api', 'provisioner', 'transfer', 'monitor'] as const;
const WORKERS = ['provisioner', 'transfer', 'monitor'] as const;
const SERVICES = ['redis', 'minio', 'minio-init', ...APPS];
const read = (file: string) => readFileSync(join(REPO_ROOT, file), 'utf8');

let config: ComposeConfig;

function service(name: string): ComposeService {
  const found = config.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

describe('docker-compose.yml', () => {
  beforeAll(() => {
    // No skipping: without the compose plugin every test below fails and says how to install it.
    if (!composeVersion()) throw new Error(composeMissingMessage());
    const { result, config: parsed } = composeConfig();
    if (!parsed) {
      throw new Error(
        `\`docker ${COMPOSE_CONFIG_ARGS.join(' ')}\` (INNO_ENV_FILE=.env.example) failed (exit ${result.status}):\n${result.stderr || result.error?.message}`,
      );
    }
    config = parsed;
  });

  test('`docker compose config` accepts it with .env.example', () => {
    expect(config.services).toBeDefined();
  });

  test('defines the whole stack', () => {
    expect(Object.keys(config.services).sort()).toEqual(expect.arrayContaining(SERVICES));
  });

  test('redis: AOF (appendfsync everysec), noeviction, a volume and a healthcheck', () => {
    const redis = service('redis');
    expect(redis.image).toMatch(/^redis:7/);
    const command = (redis.command ?? []).join(' ');
    expect(command).toMatch(/^redis-server\b/);
    expect(command).toMatch(/--appendonly yes\b/);
    expect(command).toMatch(/--appendfsync everysec\b/);
    expect(command).toMatch(/--maxmemory-policy noeviction\b/);
    expect(redis.volumes?.some((volume) => volume.type === 'volume' && volume.target === '/data')).toBe(true);
    expect(redis.healthcheck?.test?.join(' ')).toMatch(/redis-cli ping/);
    expect(redis.ports ?? []).toEqual([]);
  });

  test('minio and its one-shot bucket init', () => {
    const minio = service('minio');
    expect(minio.image).toMatch(/^minio\/minio/);
    expect((minio.command ?? []).join(' ')).toBe('server /data --console-address :9001');
    expect(minio.volumes?.some((volume) => volume.type === 'volume' && volume.target === '/data')).toBe(true);
    expect(minio.healthcheck?.test).toBeDefined();

    const init = service('minio-init');
    expect(init.image).toMatch(/^minio\/mc/);
    expect(init.depends_on?.minio?.condition).toBe('service_healthy');
    expect(init.restart ?? 'no').toBe('no');
    expect(init.environment?.S3_BUCKET).toBe('inno-train');
    const script = read('docker/minio-init.sh');
    expect(script).toMatch(/mc mb --ignore-existing "inno\/\$S3_BUCKET"/);
    const mounted = init.volumes?.find((volume) => volume.type === 'bind' && volume.source === join(REPO_ROOT, 'docker/minio-init.sh'));
    expect(mounted).toBeDefined();
    expect(init.entrypoint?.join(' ')).toContain(mounted!.target);
  });

  test('every app: the same image build, its own dist/main.js (present after `npm run build`), .env, restart, grace period', () => {
    const contexts = new Set<string>();
    for (const app of APPS) {
      const svc = service(app);
      expect(svc.build?.context).toBe(REPO_ROOT);
      expect(svc.build?.dockerfile ?? 'Dockerfile').toBe('Dockerfile');
      contexts.add(`${svc.build?.context}|${svc.build?.dockerfile ?? 'Dockerfile'}|${svc.image}`);
      expect(svc.command).toEqual(['node', `apps/${app}/dist/main.js`]);
      const main = join(REPO_ROOT, 'apps', app, 'dist', 'main.js');
      if (!existsSync(main)) throw new Error(`${main} does not exist: run \`npm run build\` at the repository root first`);
      expect(svc.restart).toBe('unless-stopped');
      // env_file (.env; here .env.example) is inlined by `config`: a value only that file sets proves it.
      expect(svc.environment?.S3_BUCKET).toBe('inno-train');
      expect(svc.stop_grace_period).toBeDefined();
      // Longer than the workers' default SHUTDOWN_DEADLINE_MS (30 s).
      expect(parseFloat(svc.stop_grace_period!)).toBeGreaterThan(30);
      expect(svc.stop_grace_period).toMatch(/^\d+s$/);
      expect(svc.environment?.REDIS_URL).toBe('redis://redis:6379');
      expect(svc.depends_on?.redis?.condition).toBe('service_healthy');
    }
    expect(contexts.size).toBe(1);
    expect(read('docker-compose.yml')).toMatch(/env_file:\s*\n\s*- path: \$\{INNO_ENV_FILE:-\.env\}\n\s*required: true/);
  });

  test('apps that use S3 reach the bundled MinIO and wait for its bucket', () => {
    for (const app of ['api', 'transfer', 'monitor']) {
      const svc = service(app);
      expect(svc.environment?.S3_ENDPOINT).toBe('http://minio:9000');
      expect(svc.environment?.S3_FORCE_PATH_STYLE).toBe('true');
      expect(svc.depends_on?.['minio-init']?.condition).toBe('service_completed_successfully');
    }
  });

  test('api: published on ${API_PORT:-3000}, listening on 3000 inside', () => {
    const api = service('api');
    expect(api.ports).toEqual([expect.objectContaining({ target: 3000, published: '3000' })]);
    expect(api.environment?.API_PORT).toBe('3000');
    expect(api.environment?.API_HOST).toBe('0.0.0.0');
  });

  test('health: every app is checked on /readyz with node (no curl in the image); metrics ports stay on the compose network', () => {
    for (const app of APPS) {
      const check = service(app).healthcheck?.test?.join(' ') ?? '';
      expect([app, check]).toEqual([app, expect.stringMatching(/^CMD node -e fetch\('http:\/\/127\.0\.0\.1:.*\/readyz'\)/)]);
    }
    for (const worker of WORKERS) {
      expect(service(worker).environment?.HEALTH_PORT).toBe('9464');
      expect(service(worker).environment?.HEALTH_HOST).toBe('0.0.0.0');
    }
    expect(service('api').environment?.METRICS_PORT).toBe('9464');
    expect(service('api').ports?.map((port) => port.target)).toEqual([3000]);
  });

  test('workers scale: no container_name, no host ports', () => {
    for (const worker of WORKERS) {
      const svc = service(worker);
      expect(svc.container_name).toBeUndefined();
      expect(svc.ports ?? []).toEqual([]);
    }
    for (const app of APPS) expect(service(app).container_name).toBeUndefined();
  });

  test('workers get the SSH key as a compose secret at /run/secrets/ssh_key', () => {
    expect(config.secrets?.ssh_key?.file).toBe(join(REPO_ROOT, 'secrets/ssh_key'));
    for (const worker of WORKERS) {
      const svc = service(worker);
      expect(svc.secrets).toEqual([expect.objectContaining({ source: 'ssh_key' })]);
      const target = svc.secrets![0]!.target ?? 'ssh_key';
      expect(target === 'ssh_key' || target === '/run/secrets/ssh_key').toBe(true);
      expect(svc.environment?.SSH_PRIVATE_KEY_PATH).toBe('/run/secrets/ssh_key');
    }
    expect(service('api').secrets ?? []).toEqual([]);
  });

  test('each app container gets only the secrets it uses', () => {
    const secretsOf: Record<(typeof APPS)[number], string[]> = {
      api: ['API_KEYS', 'AWS_SECRET_ACCESS_KEY'],
      provisioner: ['LAMBDA_API_KEY'],
      transfer: ['AWS_SECRET_ACCESS_KEY'],
      monitor: ['AWS_SECRET_ACCESS_KEY'],
    };
    const secrets = ['API_KEYS', 'API_ADMIN_KEYS', 'AWS_SECRET_ACCESS_KEY', 'LAMBDA_API_KEY', 'MINIO_ROOT_PASSWORD'];
    for (const app of APPS) {
      const env = service(app).environment ?? {};
      for (const secret of secrets) {
        if (secretsOf[app].includes(secret)) expect([app, secret, env[secret]]).toEqual([app, secret, expect.stringMatching(/.+/)]);
        else expect([app, secret, env[secret] ?? '']).toEqual([app, secret, '']);
      }
    }
  });
});

describe('.env.example', () => {
  const entries = parseEnvExample(read('.env.example'));
  const byName = new Map(entries.map((entry) => [entry.name, entry]));

  test("sets every variable of the apps' env schemas (fragments.ts, apps/*/src/env.ts), each with a comment", () => {
    const schemaKeys = envSchemaKeys();
    // Guards the regex: these must be found, or the scan itself is broken.
    expect([...schemaKeys.keys()]).toEqual(
      expect.arrayContaining(['REDIS_URL', 'S3_BUCKET', 'SSH_PRIVATE_KEY_PATH', 'LAMBDA_API_KEY', 'WORKER_CONCURRENCY', 'API_KEYS']),
    );
    const missing = [...schemaKeys].filter(([key]) => !byName.get(key)?.active).map(([key, files]) => `${key} (${files.join(', ')})`);
    expect(missing).toEqual([]);
    const undocumented = [...schemaKeys.keys()].filter((key) => (byName.get(key)?.comment.join(' ') ?? '').trim() === '');
    expect(undocumented).toEqual([]);
  });

  test("documents every variable the apps read by hand (env.NAME outside the schemas), e.g. the demo client's", () => {
    const reads = envReadsInApps();
    expect([...reads.keys()]).toEqual(expect.arrayContaining(['REDIS_URL']));
    const missing = [...reads].filter(([name]) => !byName.has(name)).map(([name, files]) => `${name} (${files.join(', ')})`);
    expect(missing).toEqual([]);
  });

  test('documents every variable docker-compose.yml interpolates', () => {
    const used = composeVariables(read('docker-compose.yml'));
    expect([...used]).toEqual(
      expect.arrayContaining(['S3_BUCKET', 'MINIO_ROOT_USER', 'MINIO_ROOT_PASSWORD', 'SSH_PRIVATE_KEY_FILE', 'API_PORT']),
    );
    const missing = [...used].filter((name) => !byName.has(name));
    expect(missing).toEqual([]);
  });

  test('holds placeholders only, never secret-looking values', () => {
    const secrets = [
      'API_KEYS',
      'API_ADMIN_KEYS',
      'AWS_SECRET_ACCESS_KEY',
      'LAMBDA_API_KEY',
      'MINIO_ROOT_PASSWORD',
      'SSH_KEY_PASSPHRASE',
      'AWS_ACCESS_KEY_ID',
      'MINIO_ROOT_USER',
    ];
    for (const name of secrets) {
      const value = byName.get(name)?.value ?? '';
      expect([name, value]).toEqual([name, expect.stringMatching(/^(|replace-with-[a-z0-9-]+)$/)]);
    }
    // The bundled MinIO works out of the box: the apps' S3 credentials are its root pair.
    expect(byName.get('AWS_ACCESS_KEY_ID')?.value).toBe(byName.get('MINIO_ROOT_USER')?.value);
    expect(byName.get('AWS_SECRET_ACCESS_KEY')?.value).toBe(byName.get('MINIO_ROOT_PASSWORD')?.value);
  });
});

describe('Dockerfile', () => {
  const instructions = parseDockerfile(read('Dockerfile'));

  test("RUN steps are only what CI runs (npm ci, npm run build) plus npm prune, the add-ons' compiler and harmless shell", () => {
    const commands = instructions.filter((item) => item.instruction === 'RUN').flatMap((item) => runCommands(item.args));
    const allowed = [
      // The compiler for ssh2's native crypto binding (scripts/native-addons.mjs), from Debian's own sources.
      /^apt-get update -qq$/,
      /^apt-get install -y -qq --no-install-recommends python3 make g\+\+ >\/dev\/null$/,
      /^rm -rf \/var\/lib\/apt\/lists\/\*$/,
      /^npm ci(\s+--[a-z-]+(=\S+)?)*$/,
      /^npm run build$/,
      /^npm prune --omit=dev(\s+--[a-z-]+(=\S+)?)*$/,
      /^(mkdir|chown|chmod)\s/,
    ];
    expect(commands.filter((command) => !allowed.some((pattern) => pattern.test(command)))).toEqual([]);
    expect(commands).toEqual(
      expect.arrayContaining([expect.stringMatching(/^npm ci\b/), 'npm run build', expect.stringMatching(/^npm prune --omit=dev\b/)]),
    );
    const order = ['npm ci', 'npm run build', 'npm prune'].map((step) => commands.findIndex((command) => command.startsWith(step)));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  test('multi-stage on node:24-bookworm-slim; runtime as non-root node, NODE_ENV=production, API by default', () => {
    const froms = instructions.filter((item) => item.instruction === 'FROM').map((item) => item.args);
    expect(froms[0]).toMatch(/^node:24-bookworm-slim AS build$/i);
    expect(froms[froms.length - 1]).toBe('node:24-bookworm-slim');
    const lastFrom = instructions.map((item) => item.instruction).lastIndexOf('FROM');
    const runtime = instructions.slice(lastFrom);
    expect(runtime.filter((item) => item.instruction === 'USER').map((item) => item.args)).toEqual(['node']);
    expect(runtime.some((item) => item.instruction === 'ENV' && /\bNODE_ENV=production\b/.test(item.args))).toBe(true);
    expect(runtime.some((item) => item.instruction === 'COPY' && /--from=build\b/.test(item.args))).toBe(true);
    expect(runtime.find((item) => item.instruction === 'CMD')?.args).toBe('["node", "apps/api/dist/main.js"]');
  });

  test('.dockerignore keeps build output, local state and secrets out of the context', () => {
    const patterns = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    expect(patterns).toEqual(
      expect.arrayContaining(['node_modules', 'dist', '.data', '.turbo', '.git', 'coverage', '*.log', '.env', 'secrets']),
    );
  });
});
