import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { SimApiError, invalidParameters } from './errors';

export interface SimSshKey {
  id: string;
  name: string;
  public_key: string;
}

/** An RSA key pair the way the API hands out generated keys: PKCS#1 PEM private, OpenSSH public. */
export function generateSshKeyPair(comment: string): { publicKey: string; privateKey: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' });
  const field = (bytes: Buffer): Buffer => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  // mpint: big-endian, with a leading zero byte when the high bit is set (else it reads negative).
  const mpint = (base64url: string): Buffer => {
    const raw = Buffer.from(base64url, 'base64url');
    return field(raw[0] !== undefined && raw[0] & 0x80 ? Buffer.concat([Buffer.from([0]), raw]) : raw);
  };
  const blob = Buffer.concat([field(Buffer.from('ssh-rsa')), mpint(jwk.e ?? ''), mpint(jwk.n ?? '')]);
  return {
    publicKey: `ssh-rsa ${blob.toString('base64')} ${comment}`,
    privateKey: privateKey.export({ format: 'pem', type: 'pkcs1' }).toString(),
  };
}

/** The account's SSH keys. Names are unique, as on the real API. */
export function createSshKeyStore() {
  const keys = new Map<string, SimSshKey>();

  function add(name: string, publicKey: string | undefined): SimSshKey & { private_key?: string } {
    if ([...keys.values()].some((key) => key.name === name)) {
      throw invalidParameters(`An SSH key named ${JSON.stringify(name)} already exists.`);
    }
    // Without a public key the API generates a pair and returns the private half once, never stores it.
    const generated = publicKey === undefined ? generateSshKeyPair(name) : undefined;
    const key = { id: randomBytes(16).toString('hex'), name, public_key: generated?.publicKey ?? publicKey ?? '' };
    keys.set(key.id, key);
    return generated ? { ...key, private_key: generated.privateKey } : { ...key };
  }

  function remove(id: string): void {
    // The spec lists only 400 invalid-parameters for this endpoint, so an unknown id answers that.
    if (!keys.delete(id)) throw invalidParameters(`SSH key ${JSON.stringify(id)} does not exist.`);
  }

  /** Public keys for the given names, or the launch error the real API gives for a missing one. */
  function publicKeysFor(names: string[]): string[] {
    return names.map((name) => {
      const key = [...keys.values()].find((candidate) => candidate.name === name);
      if (!key) {
        throw new SimApiError(
          400,
          'global/object-does-not-exist',
          `SSH key ${JSON.stringify(name)} does not exist.`,
          'Check the name of the SSH key, or add it first.',
        );
      }
      return key.public_key;
    });
  }

  return { add, remove, publicKeysFor, list: (): SimSshKey[] => [...keys.values()].map((key) => ({ ...key })) };
}

export type SshKeyStore = ReturnType<typeof createSshKeyStore>;
