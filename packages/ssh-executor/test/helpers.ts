/** Shared fixtures: a real disposable sshd per test file (see @inno-train/test-kit). */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { generateSshKeyPair, startSshHost, waitFor, type SshHost, type SshKeyPair } from '@inno-train/test-kit';
import type { SshTarget } from '../src';

const execFileAsync = promisify(execFile);

export interface Fixture {
  host: SshHost;
  keys: SshKeyPair;
  target: SshTarget;
}

export async function startFixture(ip: string): Promise<Fixture> {
  const keys = generateSshKeyPair();
  const host = await startSshHost({ ip, authorizedKeys: [keys.publicKey] });
  return { host, keys, target: { host: host.ip, port: host.port, username: 'ubuntu', privateKey: keys.privateKey } };
}

/** Established TCP connections from any local process to ip:port (our side of each connection). */
export async function openConnectionsTo(ip: string, port: number): Promise<number> {
  const { stdout } = await execFileAsync('ss', ['-tnH', 'state', 'established', `( dst ${ip} and dport = :${port} )`]);
  return stdout.split('\n').filter((line) => line.trim() !== '').length;
}

export function waitForNoConnections(ip: string, port: number): Promise<true> {
  return waitFor(async () => (await openConnectionsTo(ip, port)) === 0 || undefined, {
    timeoutMs: 5000,
    description: `no open connections to ${ip}:${port}`,
  });
}
