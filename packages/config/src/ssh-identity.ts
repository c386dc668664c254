import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '@inno-train/core';

export interface SshIdentityConfig {
  SSH_PRIVATE_KEY_PATH: string;
  SSH_KEY_PASSPHRASE?: string | undefined;
  SSH_USER: string;
  SSH_PORT: number;
}

/**
 * Reads the SSH private key once at start. A key that others can read is refused: it is the key
 * to every instance we rent.
 */
export function loadSshIdentity(config: SshIdentityConfig) {
  let mode: number;
  try {
    mode = statSync(config.SSH_PRIVATE_KEY_PATH).mode;
  } catch {
    throw new ConfigError(`SSH_PRIVATE_KEY_PATH: cannot read ${config.SSH_PRIVATE_KEY_PATH}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new ConfigError(
      `SSH_PRIVATE_KEY_PATH: ${config.SSH_PRIVATE_KEY_PATH} is readable by group or others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
    );
  }
  const privateKey = readFileSync(config.SSH_PRIVATE_KEY_PATH, 'utf8');
  return {
    username: config.SSH_USER,
    port: config.SSH_PORT,
    privateKey,
    ...(config.SSH_KEY_PASSPHRASE ? { passphrase: config.SSH_KEY_PASSPHRASE } : {}),
  };
}
