import { createHash } from 'node:crypto';

/**
 * Host key fingerprints as OpenSSH shows them after `SHA256:`: unpadded base64 of the SHA-256 of
 * the key blob. Operators can compare them with `ssh-keygen -lf`, so this is the stored form.
 */
export function fingerprintOf(hostKey: Buffer): string {
  return createHash('sha256').update(hostKey).digest('base64').replace(/=+$/, '');
}

/** Accepts `SHA256:abc`, `abc` and `abc=` for the same key, since each tool prints its own variant. */
export function normalizeFingerprint(fingerprint: string): string {
  return fingerprint
    .trim()
    .replace(/^SHA256:/i, '')
    .replace(/=+$/, '');
}

export function sameFingerprint(a: string, b: string): boolean {
  return normalizeFingerprint(a) === normalizeFingerprint(b);
}
