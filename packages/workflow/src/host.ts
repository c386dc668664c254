import { InnoError } from '@inno-train/core';
import type { HostTarget } from '@inno-train/host-port';
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
