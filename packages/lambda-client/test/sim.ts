/**
 * The simulator package, started in-process for these tests. Imported from its sources so the
 * client's tests need no build of the simulator first.
 */
import { createMemoryHostBackend, startLambdaSimulator, type LambdaSimulator, type SimulatorOptions } from '../../lambda-simulator/src';

export type { LambdaSimulator };
export const API_KEY = 'secret_lambda-client-test_0123456789abcdef';
export const PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T test';

export function startSim(overrides: Partial<SimulatorOptions> = {}): Promise<LambdaSimulator> {
  return startLambdaSimulator({
    apiKey: API_KEY,
    hosts: createMemoryHostBackend(),
    rateLimits: false,
    bootDelayMs: 30,
    ...overrides,
  });
}

/** A fetch that records every call, and can be told to misbehave around the real one. */
export function recordingFetch(around?: (url: string, init: RequestInit | undefined, real: typeof fetch) => Promise<Response>) {
  const calls: { method: string; url: string }[] = [];
  const wrapped = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    calls.push({ method: init?.method ?? 'GET', url });
    return around ? around(url, init, fetch) : fetch(url, init);
  }) as typeof fetch;
  return {
    fetch: wrapped,
    calls,
    count: (method: string, path: string) => calls.filter((c) => c.method === method && c.url.endsWith(path)).length,
  };
}

export function memoryLogger() {
  const lines: { level: 'warn' | 'info'; obj: object; msg: string }[] = [];
  return {
    lines,
    warn: (obj: object, msg: string) => {
      lines.push({ level: 'warn', obj, msg });
    },
    info: (obj: object, msg: string) => {
      lines.push({ level: 'info', obj, msg });
    },
  };
}
