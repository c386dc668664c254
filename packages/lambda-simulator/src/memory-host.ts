import type { HostBackend, HostStartRequest } from './types';

export interface MemoryHost {
  instanceId: string;
  ip: string;
  publicKeys: string[];
  sshReadyAfterMs: number;
  alive: boolean;
}

/** A HostBackend with no processes behind it, for tests that only need the API's view. */
export interface MemoryHostBackend extends HostBackend {
  hosts(): MemoryHost[];
  alive(): MemoryHost[];
  /** Makes the next start() calls reject, like a host that never comes up. */
  failNextStarts(count: number): void;
}

export function createMemoryHostBackend(): MemoryHostBackend {
  const hosts = new Map<string, MemoryHost>();
  let failures = 0;
  let next = 10;
  return {
    async start(req: HostStartRequest) {
      if (failures > 0) {
        failures -= 1;
        throw new Error(`host for ${req.instanceId} failed to start`);
      }
      // TEST-NET-2 addresses: obviously fake, never routable.
      const ip = `198.51.100.${next++ % 250}`;
      hosts.set(req.instanceId, {
        instanceId: req.instanceId,
        ip,
        publicKeys: [...req.publicKeys],
        sshReadyAfterMs: req.sshReadyAfterMs,
        alive: true,
      });
      return { ip };
    },
    async stop(instanceId: string) {
      const host = hosts.get(instanceId);
      if (host) host.alive = false;
    },
    hosts: () => [...hosts.values()].map((host) => ({ ...host })),
    alive: () => [...hosts.values()].filter((host) => host.alive).map((host) => ({ ...host })),
    failNextStarts(count: number) {
      failures = count;
    },
  };
}
