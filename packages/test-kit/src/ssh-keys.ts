/**
 * SSH key pairs for tests, made by OpenSSH's `ssh-keygen`, as operators make theirs: the private
 * key in the OpenSSH format (bcrypt KDF, aes256-ctr when a passphrase is given), the public key an
 * authorized_keys line.
 *
 * Not ssh2's `utils.generateKeyPairSync`: with a passphrase (ssh2 1.17, aes256-cbc) about 1 key in
 * 150 comes out malformed, and neither ssh2 nor OpenSSH can read it back ("Malformed OpenSSH
 * private key" / "error in libcrypto"); a stack built on such a key failed at random.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
  const dir = mkdtempSync(join(tmpdir(), 'inno-keygen-'));
  try {
    const file = join(dir, 'id_ed25519');
    execFileSync(
      'ssh-keygen',
      ['-q', '-t', 'ed25519', '-N', options.passphrase ?? '', '-C', options.comment ?? 'inno-train-test', '-f', file],
      { stdio: 'ignore' },
    );
    return { privateKey: readFileSync(file, 'utf8'), publicKey: readFileSync(`${file}.pub`, 'utf8').trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
