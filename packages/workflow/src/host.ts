import { InfrastructureError, InnoError, scrubSecrets } from '@inno-train/core';
import type { HostExecutor, HostTarget } from '@inno-train/host-port';
import type { JobRecord } from '@inno-train/schemas';

// The one host target type is declared with the host executor port (@inno-train/host-port).
export type { HostTarget } from '@inno-train/host-port';

/** How every worker logs in to a job's host. The private key is read once at start. */
export interface SshIdentity {
  username: string;
  port: number;
  privateKey: string;
  passphrase?: string;
}

export function hostTarget(job: JobRecord, identity: SshIdentity): HostTarget {
  const ip = job.instance?.ip;
  if (!ip) throw new InnoError('host_unknown', `Job ${job.id} has no instance address yet`);
  return {
    host: ip,
    port: identity.port,
    username: identity.username,
    privateKey: identity.privateKey,
    ...(identity.passphrase ? { passphrase: identity.passphrase } : {}),
    ...(job.instance?.hostKeyFingerprint ? { hostKeyFingerprint: job.instance.hostKeyFingerprint } : {}),
  };
}

/**
 * Runs a task's start that carries its files on stdin (host-protocol's installAndStartCommand:
 * files written, then the start) as one SSH call. A non-zero exit means the files could not be
 * written and nothing started: an upload failure, retried like one (and host trouble if it lasts).
 */
export async function startTaskOnHost(
  shell: HostExecutor,
  target: HostTarget,
  start: { command: string; stdin: Buffer },
  options: { timeoutMs: number; label: string },
): Promise<void> {
  const result = await shell.exec(target, start.command, { stdin: start.stdin, ...options });
  if (result.exitCode === 0) return;
  const said = scrubSecrets(result.stderr.trim() || result.stdout.trim()).slice(-300);
  throw new InfrastructureError(
    'ssh_upload_failed',
    `${options.label}: writing the task's files on ${target.host} failed (exit ${result.exitCode}): ${said}`,
    { retryable: true, details: { host: target.host, exitCode: result.exitCode } },
  );
}
