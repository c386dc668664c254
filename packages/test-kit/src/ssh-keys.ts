/**
 * SSH key pairs for tests, made by ssh2's own generator so the private key is in the OpenSSH
 * format that both ssh2 and OpenSSH read, and the public key is an authorized_keys line.
 */
import { createHash } from 'node:crypto';
import { utils } from 'ssh2';

export interface SshKeyPair {
  /** `-----BEGIN OPENSSH PRIVATE KEY-----` text; encrypted when a passphrase was given. */
  privateKey: string;
  /** `ssh-ed25519 AAAA... comment`, ready for authorized_keys. */
  publicKey: string;
}

export interface GenerateSshKeyPairOptions {
  passphrase?: string;
  comment?: string;
}

export function generateSshKeyPair(options: GenerateSshKeyPairOptions = {}): SshKeyPair {
  const comment = options.comment ?? 'inno-train-test';
  // ssh2 1.17 requires an explicit cipher with a passphrase; aes256-cbc is one it can also read back.
  const pair = options.passphrase
    ? utils.generateKeyPairSync('ed25519', { passphrase: options.passphrase, cipher: 'aes256-cbc', comment })
    : utils.generateKeyPairSync('ed25519', { comment });
  return { privateKey: pair.private, publicKey: pair.public.trim() };
}

/**
 * SHA-256 fingerprint of a public key line (`type base64 [comment]`), as unpadded base64: the
 * text OpenSSH prints after `SHA256:`. It is computed over the key blob, so it equals what an
 * SSH client computes from the key the server presents.
 */
export function publicKeyFingerprint(publicKeyLine: string): string {
  const blob = publicKeyLine.trim().split(/\s+/)[1];
  if (!blob) throw new Error('Not a public key line: expected "<type> <base64> [comment]"');
  return createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64').replace(/=+$/, '');
}
