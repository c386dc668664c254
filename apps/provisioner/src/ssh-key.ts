import { createHash } from 'node:crypto';
import { utils } from 'ssh2';
import { ConfigError, type Logger } from '@inno-train/core';

export interface SshKeyApi {
  listSshKeys(): Promise<{ id: string; name: string }[]>;
  addSshKey(name: string, publicKey: string): Promise<unknown>;
}

/** The public half of our private key, in authorized_keys form (`ssh-ed25519 AAAA...`). */
export function publicKeyOf(privateKey: string, passphrase?: string): string {
  const parsed = utils.parseKey(privateKey, passphrase);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error)
    throw new ConfigError(
      `SSH_PRIVATE_KEY_PATH: cannot read the private key (${key instanceof Error ? 'wrong passphrase or format' : 'empty'})`,
    );
  return `${key.type} ${key.getPublicSSH().toString('base64')}`;
}

/** A stable name for our key in the Lambda account, derived from its fingerprint. */
export function derivedKeyName(publicKey: string): string {
  const blob = publicKey.split(' ')[1] ?? publicKey;
  return `inno-train-${createHash('sha256').update(Buffer.from(blob, 'base64')).digest('hex').slice(0, 16)}`;
}

/**
 * Makes sure the Lambda account knows our public key and returns the name to launch with. Several
 * replicas may start at once: a registration that loses the race is not an error.
 */
export async function ensureSshKeyName(api: SshKeyApi, publicKey: string, configured: string | undefined, logger: Logger): Promise<string> {
  if (configured) return configured;
  const name = derivedKeyName(publicKey);
  const known = async () => (await api.listSshKeys()).some((key) => key.name === name);
  if (await known()) return name;
  try {
    await api.addSshKey(name, publicKey);
    logger.info({ name }, 'registered our SSH public key with Lambda');
  } catch (error) {
    if (!(await known())) throw error;
  }
  return name;
}
