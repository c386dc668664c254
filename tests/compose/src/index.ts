import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root (this file lives in tests/compose/src or tests/compose/dist). */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..');

/** How to get `docker compose` on Debian bookworm (CI's image): Debian's own archive, trixie's 2.x package. */
export const COMPOSE_INSTALL_HINT = [
  '`docker compose` (the Compose v2 CLI plugin) is not installed. On Debian bookworm, install it from',
  "Debian's own archive (bookworm ships only the old Python docker-compose 1.29, which has no",
  '`docker compose` plugin and no `config --format json`); trixie has the Go v2 plugin, which needs',
  "nothing newer than bookworm's libc (from the repository root; the trixie source gets the URIs of",
  "the machine's own Debian source, as in .ci/run):",
  '',
  '  bash .ci/debian-source.sh trixie > /etc/apt/sources.list.d/trixie.sources',
  "  printf 'Package: *\\nPin: release n=trixie\\nPin-Priority: 100\\n' > /etc/apt/preferences.d/trixie-low",
  '  apt-get update && apt-get install -y --no-install-recommends -t trixie docker-compose',
  '',
  'It installs /usr/libexec/docker/cli-plugins/docker-compose (docker compose version: 2.26.1-4).',
  'No Docker engine is needed: these tests only run `docker compose config`.',
].join('\n');

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
  error?: Error | undefined;
}

/** Runs a command in the repository root with a minimal environment (no stray compose variables). */
export function runInRepo(command: string, args: string[], extraEnv: Record<string, string> = {}): CommandResult {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', ...extraEnv };
  if (process.env.HOME) env.HOME = process.env.HOME;
  if (process.env.DOCKER_CONFIG) env.DOCKER_CONFIG = process.env.DOCKER_CONFIG;
  const result = spawnSync(command, args, { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '', error: result.error };
}

/** `docker compose version`, or undefined when the plugin (or the docker CLI) is missing. */
export function composeVersion(): string | undefined {
  const result = runInRepo('docker', ['compose', 'version']);
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/** Why `docker compose` cannot run, and how to install it. */
export function composeMissingMessage(): string {
  const docker = runInRepo('docker', ['--version']);
  const cli =
    docker.status === 0
      ? `The docker CLI is there (${docker.stdout.trim()}), but its compose plugin is not.`
      : 'The docker CLI itself is missing too (Debian: apt-get install docker-cli or docker.io; no engine needed).';
  return `${cli}\n${COMPOSE_INSTALL_HINT}`;
}

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[] | null;
  entrypoint?: string[] | null;
  container_name?: string;
  ports?: { target: number; published?: string; host_ip?: string }[];
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string; required?: boolean }>;
  restart?: string;
  secrets?: { source: string; target?: string }[];
  stop_grace_period?: string;
  healthcheck?: { test?: string[] };
  user?: string;
  volumes?: { type: string; source?: string; target: string }[];
}

export interface ComposeConfig {
  name: string;
  services: Record<string, ComposeService>;
  secrets?: Record<string, { file?: string }>;
  volumes?: Record<string, unknown>;
}

/** The command the tests check, run from the repository root. */
export const COMPOSE_CONFIG_ARGS = ['compose', '-f', 'docker-compose.yml', '--env-file', '.env.example', 'config', '--format', 'json'];

/**
 * The resolved compose model, as `docker compose config` prints it. The app containers' env file
 * (normally .env, which a checkout does not have) is pointed at .env.example for the check.
 */
export function composeConfig(): { result: CommandResult; config?: ComposeConfig } {
  const result = runInRepo('docker', COMPOSE_CONFIG_ARGS, { INNO_ENV_FILE: '.env.example' });
  if (result.status !== 0) return { result };
  return { result, config: JSON.parse(result.stdout) as ComposeConfig };
}

/**
 * Every variable the apps' env schemas declare: upper-case object keys in
 * packages/config/src/fragments.ts and apps/<app>/src/env.ts, mapped to the files declaring them.
 */
export function envSchemaKeys(root: string = REPO_ROOT): Map<string, string[]> {
  const files = ['packages/config/src/fragments.ts'];
  for (const app of readdirSync(join(root, 'apps'))) {
    const file = join('apps', app, 'src', 'env.ts');
    if (existsSync(join(root, file))) files.push(file);
  }
  const keys = new Map<string, string[]>();
  for (const file of files) {
    const source = readFileSync(join(root, file), 'utf8');
    for (const match of source.matchAll(/^\s*([A-Z][A-Z0-9_]*)\s*:/gm)) {
      const key = match[1]!;
      keys.set(key, [...(keys.get(key) ?? []), file]);
    }
  }
  return keys;
}

/** Variables of the system, not of inno-train, that apps pass through to child processes. */
const SYSTEM_VARIABLES = new Set(['PATH', 'HOME', 'USER', 'LANG', 'SHELL', 'TERM', 'TMPDIR', 'NODE_ENV', 'CI']);

/**
 * Variables the apps read by hand rather than through a schema (`env.NAME` / `env['NAME']` in
 * apps/<app>/src, tests excluded), e.g. the demo client's settings; mapped to the files reading them.
 */
export function envReadsInApps(root: string = REPO_ROOT): Map<string, string[]> {
  const reads = new Map<string, string[]>();
  const visit = (dir: string) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
        const source = readFileSync(join(root, path), 'utf8');
        for (const match of source.matchAll(/\benv(?:\.([A-Z][A-Z0-9_]*)\b|\[['"]([A-Z][A-Z0-9_]*)['"]\])/g)) {
          const name = (match[1] ?? match[2])!;
          if (!SYSTEM_VARIABLES.has(name)) reads.set(name, [...new Set([...(reads.get(name) ?? []), path])]);
        }
      }
    }
  };
  for (const app of readdirSync(join(root, 'apps'))) {
    if (existsSync(join(root, 'apps', app, 'src'))) visit(join('apps', app, 'src'));
  }
  return reads;
}

export interface EnvExampleEntry {
  name: string;
  value: string;
  /** false for a commented-out `# NAME=value` line. */
  active: boolean;
  line: number;
  /** The comment lines documenting it (the block above it, shared with neighbouring variables). */
  comment: string[];
}

/** Parses .env.example: variable lines (`NAME=value`, or commented `# NAME=value`) and their comments. */
export function parseEnvExample(text: string): EnvExampleEntry[] {
  const lines = text.split(/\r?\n/);
  const entries: EnvExampleEntry[] = [];
  const variable = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/;
  lines.forEach((raw, index) => {
    const match = variable.exec(raw.trim());
    if (!match) return;
    const comment: string[] = [];
    for (let i = index - 1; i >= 0; i--) {
      const above = lines[i]!.trim();
      if (variable.test(above)) continue;
      if (!above.startsWith('#') || /^#\s*-{3,}/.test(above)) break;
      comment.unshift(above.replace(/^#\s?/, ''));
    }
    entries.push({ name: match[2]!, value: match[3]!, active: !match[1], line: index + 1, comment });
  });
  return entries;
}

/** Names of the variables docker-compose.yml interpolates (`${NAME}`, `${NAME:-x}`, `${NAME-x}`, `${NAME:?msg}`). */
export function composeVariables(text: string): Set<string> {
  const uncommented = text
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, ''))
    .join('\n');
  return new Set([...uncommented.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((match) => match[1]!));
}

export interface DockerfileInstruction {
  instruction: string;
  args: string;
  line: number;
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
export function parseDockerfile(text: string): DockerfileInstruction[] {
  const instructions: DockerfileInstruction[] = [];
  let current: { text: string; line: number } | undefined;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && !current)) return;
    const continues = line.endsWith('\\');
    const part = continues ? line.slice(0, -1).trim() : line;
    current = current ? { text: `${current.text} ${part}`.trim(), line: current.line } : { text: part, line: index + 1 };
    if (!continues) {
      const [, instruction = '', args = ''] = /^(\S+)\s*(.*)$/.exec(current.text) ?? [];
      instructions.push({ instruction: instruction.toUpperCase(), args, line: current.line });
      current = undefined;
    }
  });
  return instructions;
}

/** The shell commands of a RUN instruction: BuildKit flags (--mount=...) dropped, split on && and ;. */
export function runCommands(args: string): string[] {
  const withoutFlags = args.replace(/^(--[a-z-]+=\S+\s+)+/, '');
  return withoutFlags
    .split(/&&|;/)
    .map((command) => command.trim())
    .filter(Boolean);
}
