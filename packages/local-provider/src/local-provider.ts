import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { DEFAULT_INSTANCE_TYPES, PUBLIC_REGION_CODES } from '@inno-train/cloud-catalog';
import type { CloudLaunchRequest, CloudProvider, InstanceTag } from '@inno-train/cloud-port';
import { LocalExecutor } from './local-executor';

export interface LocalInstance {
  id: string;
  name: string;
  /** Not an IP address: the local provider's name for the instance, used as the "host". */
  ip: string;
  status: 'active' | 'terminated';
  region: { name: string };
  instance_type: { name: string; price_cents_per_hour: number };
  tags: InstanceTag[];
}

export interface LocalProviderOptions {
  /** Where instances live: `<rootDir>/<id>/home` is an instance's home directory. */
  rootDir: string;
  baseEnv: { PATH: string; USER: string; LANG: string };
}

/**
 * The `local` provider. It answers the cloud provider port (types, launch, list, get, terminate)
 * as the Lambda client does, so the provisioner's code does not change; an "instance" is a
 * directory on this machine and terminating it kills every process working in it and removes it.
 * Prices are zero.
 */
export function createLocalProvider(options: LocalProviderOptions) {
  const instances = new Map<string, LocalInstance>();
  const homeOf = (host: string) => {
    const instance = [...instances.values()].find((i) => i.ip === host && i.status === 'active');
    return instance ? join(options.rootDir, instance.id, 'home') : null;
  };
  const executor = new LocalExecutor(homeOf, options.baseEnv);

  async function load(): Promise<void> {
    if (!existsSync(options.rootDir)) return;
    for (const id of await readdir(options.rootDir)) {
      const file = join(options.rootDir, id, 'instance.json');
      if (existsSync(file)) instances.set(id, JSON.parse(await readFile(file, 'utf8')) as LocalInstance);
    }
  }

  async function save(instance: LocalInstance): Promise<void> {
    await writeFile(join(options.rootDir, instance.id, 'instance.json'), JSON.stringify(instance));
  }

  async function terminateOne(id: string): Promise<void> {
    const instance = instances.get(id);
    if (!instance || instance.status === 'terminated') return;
    const dir = join(options.rootDir, id);
    await killProcessesUnder(join(dir, 'home'));
    await rm(join(dir, 'home'), { recursive: true, force: true });
    instance.status = 'terminated';
    await save(instance);
  }

  const api = {
    async listInstanceTypes() {
      const regions = ['local', ...PUBLIC_REGION_CODES].map((name) => ({ name, description: `${name} (on this machine)` }));
      return Object.fromEntries(
        DEFAULT_INSTANCE_TYPES.map((type) => [
          type.name,
          {
            instance_type: { name: type.name, description: type.description, price_cents_per_hour: 0, specs: type.specs },
            regions_with_capacity_available: regions,
          },
        ]),
      );
    },
    // SSH keys are not asked for: nothing logs in to a local instance.
    async launch(request: Omit<CloudLaunchRequest, 'sshKeyNames'>) {
      const id = randomBytes(16).toString('hex');
      await mkdir(join(options.rootDir, id, 'home'), { recursive: true, mode: 0o700 });
      const instance: LocalInstance = {
        id,
        name: request.name ?? id,
        ip: `local-${id.slice(0, 8)}`,
        status: 'active',
        region: { name: request.regionName },
        instance_type: { name: request.instanceTypeName, price_cents_per_hour: 0 },
        tags: request.tags ?? [],
      };
      instances.set(id, instance);
      await save(instance);
      return { instanceIds: [id] };
    },
    async listInstances() {
      return [...instances.values()].filter((i) => i.status !== 'terminated');
    },
    async getInstance(id: string) {
      return instances.get(id) ?? null;
    },
    async terminate(ids: string[]) {
      for (const id of ids) await terminateOne(id);
      return { terminated: ids };
    },
  } satisfies CloudProvider;

  return {
    api,
    executor,
    load,
    /** Stops every live instance's processes (Ctrl-C leaves nothing running). */
    async stopAll(): Promise<void> {
      for (const instance of instances.values()) {
        if (instance.status === 'active') await killProcessesUnder(join(options.rootDir, instance.id, 'home'));
      }
    },
  };
}

export type LocalProvider = ReturnType<typeof createLocalProvider>;

/**
 * Kills every process whose working directory is inside `dir` (the training process group, the
 * transfer scripts and their curls). Linux /proc; each is SIGKILLed, as a terminated VM would be.
 */
export async function killProcessesUnder(dir: string): Promise<number> {
  let killed = 0;
  const entries = await readdir('/proc').catch(() => [] as string[]);
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cwd = await readlink(`/proc/${entry}/cwd`).catch(() => null);
    if (cwd && (cwd === dir || cwd.startsWith(dir + sep))) {
      try {
        process.kill(Number(entry), 'SIGKILL');
        killed++;
      } catch {
        // Already gone.
      }
    }
  }
  return killed;
}
