import { ConfigError } from '@inno-train/core';
import { generateSshKeyPair } from '@inno-train/test-kit';
import { derivedKeyName, ensureSshKeyName, publicKeyOf } from '../src';
import { logger } from './harness';

/** A fake of the two Lambda SSH key calls: `keys` is the account's list; `addError` makes add fail. */
class FakeKeyApi {
  keys: { id: string; name: string }[] = [];
  readonly added: { name: string; publicKey: string }[] = [];
  listCalls = 0;
  addError: unknown = null;
  /** Simulates another replica registering the key while our add is in flight. */
  raceWinner: string | null = null;

  async listSshKeys() {
    this.listCalls++;
    return this.keys.map((key) => ({ ...key }));
  }

  async addSshKey(name: string, publicKey: string) {
    this.added.push({ name, publicKey });
    if (this.raceWinner) this.keys.push({ id: 'other-replica', name: this.raceWinner });
    if (this.addError) throw this.addError;
    this.keys.push({ id: `id-${this.keys.length}`, name });
    return { id: 'new', name };
  }
}

const pair = generateSshKeyPair({ comment: 'first' });
const other = generateSshKeyPair({ comment: 'second' });

describe('derivedKeyName', () => {
  it('is inno-train- and 16 hex characters, and the same every time for one key', () => {
    const name = derivedKeyName(pair.publicKey);
    expect(name).toMatch(/^inno-train-[0-9a-f]{16}$/);
    expect(derivedKeyName(pair.publicKey)).toBe(name);
  });

  it('depends on the key, not on its comment', () => {
    const [type, blob] = pair.publicKey.split(' ');
    expect(derivedKeyName(`${type} ${blob} another-comment`)).toBe(derivedKeyName(pair.publicKey));
    expect(derivedKeyName(`${type} ${blob}`)).toBe(derivedKeyName(pair.publicKey));
    expect(derivedKeyName(other.publicKey)).not.toBe(derivedKeyName(pair.publicKey));
  });
});

describe('ensureSshKeyName', () => {
  it('returns the configured name without calling Lambda', async () => {
    const api = new FakeKeyApi();
    await expect(ensureSshKeyName(api, pair.publicKey, 'team-key', logger)).resolves.toBe('team-key');
    expect(api.listCalls).toBe(0);
    expect(api.added).toHaveLength(0);
  });

  it('returns the derived name without registering when the account already has it', async () => {
    const api = new FakeKeyApi();
    api.keys = [
      { id: '1', name: 'unrelated' },
      { id: '2', name: derivedKeyName(pair.publicKey) },
    ];
    await expect(ensureSshKeyName(api, pair.publicKey, undefined, logger)).resolves.toBe(derivedKeyName(pair.publicKey));
    expect(api.added).toHaveLength(0);
  });

  it('registers the public key under the derived name when it is missing', async () => {
    const api = new FakeKeyApi();
    api.keys = [{ id: '1', name: 'unrelated' }];
    const name = await ensureSshKeyName(api, pair.publicKey, undefined, logger);
    expect(name).toBe(derivedKeyName(pair.publicKey));
    expect(api.added).toEqual([{ name, publicKey: pair.publicKey }]);
  });

  it('returns the name when the registration fails because another replica registered the key first', async () => {
    const api = new FakeKeyApi();
    api.raceWinner = derivedKeyName(pair.publicKey);
    api.addError = Object.assign(new Error('ssh key name already in use'), { code: 'global/invalid-parameters' });
    await expect(ensureSshKeyName(api, pair.publicKey, undefined, logger)).resolves.toBe(derivedKeyName(pair.publicKey));
    expect(api.added).toHaveLength(1);
    expect(api.listCalls).toBe(2);
  });

  it('rethrows the registration error when the key still does not exist', async () => {
    const api = new FakeKeyApi();
    const error = Object.assign(new Error('invalid api key'), { code: 'global/invalid-api-key' });
    api.addError = error;
    await expect(ensureSshKeyName(api, pair.publicKey, undefined, logger)).rejects.toBe(error);
    expect(api.added).toHaveLength(1);
  });
});

describe('publicKeyOf', () => {
  it('derives the public key of an unencrypted private key', () => {
    const [type, blob] = pair.publicKey.split(' ');
    expect(publicKeyOf(pair.privateKey)).toBe(`${type} ${blob}`);
  });

  it('derives the public key of a passphrase-protected private key', () => {
    const encrypted = generateSshKeyPair({ passphrase: 'correct horse battery' });
    expect(encrypted.privateKey).not.toBe(pair.privateKey);
    const [type, blob] = encrypted.publicKey.split(' ');
    expect(publicKeyOf(encrypted.privateKey, 'correct horse battery')).toBe(`${type} ${blob}`);
  });

  it('refuses an encrypted key with the wrong passphrase as a config error', () => {
    const encrypted = generateSshKeyPair({ passphrase: 'correct horse battery' });
    expect(() => publicKeyOf(encrypted.privateKey, 'wrong')).toThrow(ConfigError);
  });

  it('refuses text that is not a private key as a config error', () => {
    expect(() => publicKeyOf('not a key')).toThrow(ConfigError);
  });

  it('gives a name that matches the one derived from the generated public key', () => {
    expect(derivedKeyName(publicKeyOf(pair.privateKey))).toBe(derivedKeyName(pair.publicKey));
  });
});
