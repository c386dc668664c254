import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeysConfigError, loadKeyEntries, tenantOf, type KeyEntry } from '../src/keys';

const DEFAULTS = ['s3://inno-default/', 's3://data-bucket/shared/'];
const KEY_A = 'team-a-secret-key-0123456789';
const KEY_B = 'team-b-secret-key-9876543210';
const ENV_KEY = 'env-client-key-abcdefghijkl';
const SHORT_KEY = 'short-key-123';

const sha256Hex = (key: string) => createHash('sha256').update(key).digest('hex');

let dir: string;
let files = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'inno-keys-test-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a keys file (an object as JSON, a string as it is) and returns its path. */
function keysFile(content: unknown): string {
  const path = join(dir, `keys-${++files}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function fromFile(entries: unknown[], extra: { keys?: string[]; adminKeys?: string[] } = {}): KeyEntry[] {
  return loadKeyEntries({ ...extra, file: keysFile({ keys: entries }), defaultPrefixes: DEFAULTS });
}

/** The KeysConfigError `load` throws (fails the test when it throws anything else, or nothing). */
function configError(load: () => unknown): KeysConfigError {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(KeysConfigError);
    expect((error as KeysConfigError).code).toBe('invalid_api_keys');
    return error as KeysConfigError;
  }
  throw new Error('expected a KeysConfigError, but the keys loaded');
}

describe('loading API keys from a keys file', () => {
  it('reads key and sha256 entries with their roles, prefixes and limits', () => {
    const entries = fromFile([
      {
        name: 'team-a',
        key: KEY_A,
        allowedPrefixes: ['s3://data-bucket/team-a/'],
        maxConcurrentJobs: 2,
        monthlyBudgetUsd: 150.5,
      },
      { name: 'ops.admin_1', sha256: sha256Hex(KEY_B), role: 'admin' },
    ]);
    expect(entries.map(tenantOf)).toEqual([
      {
        name: 'team-a',
        role: 'client',
        allowedPrefixes: ['s3://data-bucket/team-a/'],
        maxConcurrentJobs: 2,
        monthlyBudgetUsd: 150.5,
      },
      { name: 'ops.admin_1', role: 'admin', allowedPrefixes: DEFAULTS, maxConcurrentJobs: null, monthlyBudgetUsd: null },
    ]);
    // Both forms are held as the digest of the key, never the key.
    expect(entries[0]!.digest.toString('hex')).toBe(sha256Hex(KEY_A));
    expect(entries[1]!.digest.toString('hex')).toBe(sha256Hex(KEY_B));
    expect(JSON.stringify(entries)).not.toContain(KEY_A);
  });

  it('defaults an entry to a client with the default prefixes and no limits', () => {
    const [entry] = fromFile([{ name: 'plain', key: KEY_A }]);
    expect(tenantOf(entry!)).toEqual({
      name: 'plain',
      role: 'client',
      allowedPrefixes: DEFAULTS,
      maxConcurrentJobs: null,
      monthlyBudgetUsd: null,
    });
  });

  it('adds the file entries after the API_KEYS and API_ADMIN_KEYS ones, named by their digest', () => {
    const entries = fromFile([{ name: 'team-a', key: KEY_A }], { keys: [ENV_KEY], adminKeys: [`sha256:${sha256Hex(KEY_B)}`] });
    expect(entries.map((e) => [e.name, e.role])).toEqual([
      [`key_${sha256Hex(ENV_KEY).slice(0, 12)}`, 'client'],
      [`key_${sha256Hex(KEY_B).slice(0, 12)}`, 'admin'],
      ['team-a', 'client'],
    ]);
    expect(entries[1]!.digest.toString('hex')).toBe(sha256Hex(KEY_B));
    expect(entries[0]!.allowedPrefixes).toEqual(DEFAULTS);
    expect(entries[0]!.maxConcurrentJobs).toBeNull();
  });

  it('stops when nothing at all is configured', () => {
    const error = configError(() => loadKeyEntries({ defaultPrefixes: DEFAULTS }));
    expect(error.message).toMatch(/API_KEYS/);
    expect(error.message).toMatch(/API_KEYS_FILE/);
    configError(() => loadKeyEntries({ keys: [], adminKeys: [], defaultPrefixes: DEFAULTS }));
  });
});

describe('a bad keys file stops with a KeysConfigError naming the entry and the field, never the key', () => {
  const good = { name: 'team-a', key: KEY_A };

  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown field', { name: 'team-b', key: KEY_B, budget: 10 }, 'budget'],
    ['a short key', { name: 'team-b', key: SHORT_KEY }, 'key'],
    ['both key and sha256', { name: 'team-b', key: KEY_B, sha256: sha256Hex(KEY_B) }, 'key'],
    ['neither key nor sha256', { name: 'team-b', role: 'client' }, 'key'],
    ['a sha256 that is not 64 hex digits', { name: 'team-b', sha256: sha256Hex(KEY_B).toUpperCase() }, 'sha256'],
    ['an unknown role', { name: 'team-b', key: KEY_B, role: 'owner' }, 'role'],
    [
      'a prefix that is not s3://bucket/...',
      { name: 'team-b', key: KEY_B, allowedPrefixes: ['https://data-bucket/team-b/'] },
      'allowedPrefixes',
    ],
    ['an empty prefix list', { name: 'team-b', key: KEY_B, allowedPrefixes: [] }, 'allowedPrefixes'],
    ['a negative budget', { name: 'team-b', key: KEY_B, monthlyBudgetUsd: -5 }, 'monthlyBudgetUsd'],
    ['a zero budget', { name: 'team-b', key: KEY_B, monthlyBudgetUsd: 0 }, 'monthlyBudgetUsd'],
    ['a non-integer concurrency', { name: 'team-b', key: KEY_B, maxConcurrentJobs: 1.5 }, 'maxConcurrentJobs'],
    ['a zero concurrency', { name: 'team-b', key: KEY_B, maxConcurrentJobs: 0 }, 'maxConcurrentJobs'],
  ])('%s', (_name, entry, field) => {
    const error = configError(() => fromFile([good, entry]));
    expect(error.message).toContain('keys[1] (team-b)');
    expect(error.message).toContain(`.${field}`);
    expect(error.message).not.toContain(KEY_A);
    expect(error.message).not.toContain(KEY_B);
    expect(error.message).not.toContain(SHORT_KEY);
    expect(error.message).not.toContain(sha256Hex(KEY_B));
    expect(error.message.toLowerCase()).not.toContain(sha256Hex(KEY_B));
  });

  it('names an unknown field and says it is unknown', () => {
    const error = configError(() => fromFile([{ name: 'team-a', key: KEY_A, monthlyBudget: 10 }]));
    expect(error.message).toMatch(/keys\[0\] \(team-a\)\.monthlyBudget: unknown field/);
  });

  it('names an entry whose name is invalid by its index only', () => {
    const error = configError(() => fromFile([good, { name: 'bad name!', key: KEY_B }]));
    expect(error.message).toContain('keys[1].name');
    expect(error.message).not.toContain('bad name!');
    expect(error.message).not.toContain(KEY_B);
  });

  it('names the prefix entry that is wrong', () => {
    const error = configError(() =>
      fromFile([{ name: 'team-a', key: KEY_A, allowedPrefixes: ['s3://data-bucket/team-a/', 'data-bucket/team-a/'] }]),
    );
    expect(error.message).toContain('keys[0] (team-a).allowedPrefixes.1');
  });

  it('refuses a name used twice in the file, naming it and the entry', () => {
    const error = configError(() => fromFile([good, { name: 'team-a', key: KEY_B }]));
    expect(error.message).toContain('"team-a"');
    expect(error.message).toContain('keys[1]');
    expect(error.message).not.toContain(KEY_A);
    expect(error.message).not.toContain(KEY_B);
  });

  it('refuses a key used twice in the file (once plain, once as its sha256), naming the entry', () => {
    const error = configError(() => fromFile([good, { name: 'team-b', sha256: sha256Hex(KEY_A) }]));
    expect(error.message).toContain('team-b');
    expect(error.message).toContain('keys[1]');
    expect(error.message).not.toContain(KEY_A);
    expect(error.message).not.toContain(sha256Hex(KEY_A));
  });

  it('refuses a key given both in API_KEYS and in the file, naming the file entry', () => {
    const plain = configError(() => fromFile([{ name: 'team-a', key: ENV_KEY }], { keys: [ENV_KEY] }));
    expect(plain.message).toContain('team-a');
    expect(plain.message).toMatch(/same key as API_KEYS\[0\]/);
    expect(plain.message).not.toContain(ENV_KEY);

    // The same key as a digest in API_ADMIN_KEYS: still the same key.
    const hashed = configError(() => fromFile([{ name: 'team-a', key: ENV_KEY }], { adminKeys: [`sha256:${sha256Hex(ENV_KEY)}`] }));
    expect(hashed.message).toContain('team-a');
    expect(hashed.message).not.toContain(ENV_KEY);
    expect(hashed.message).not.toContain(sha256Hex(ENV_KEY));
  });

  it('refuses a key given twice in API_KEYS, without showing it', () => {
    const error = configError(() => loadKeyEntries({ keys: [ENV_KEY, ENV_KEY], defaultPrefixes: DEFAULTS }));
    expect(error.message).toMatch(/API_KEYS\[1\] has the same key as API_KEYS\[0\]/);
    expect(error.message).not.toContain(ENV_KEY);
  });

  it('names a path it cannot read, with the reason', () => {
    const missing = join(dir, 'does-not-exist.json');
    const error = configError(() => loadKeyEntries({ file: missing, defaultPrefixes: DEFAULTS }));
    expect(error.message).toContain(missing);
    expect(error.message).toContain('ENOENT');
    const directory = configError(() => loadKeyEntries({ file: dir, defaultPrefixes: DEFAULTS }));
    expect(directory.message).toContain('cannot read');
  });

  it('says the file is not JSON, without echoing its content', () => {
    const path = keysFile(`{"keys":[{"name":"team-a","key":"${KEY_A}",}]}`);
    const error = configError(() => loadKeyEntries({ file: path, defaultPrefixes: DEFAULTS }));
    expect(error.message).toContain('not valid JSON');
    expect(error.message).toContain(path);
    expect(error.message).not.toContain(KEY_A);
  });

  it('refuses an empty list and a file without a keys list', () => {
    const empty = configError(() => fromFile([]));
    expect(empty.message).toMatch(/keys: must list at least one key/);
    const noList = configError(() => loadKeyEntries({ file: keysFile({ tenants: [] }), defaultPrefixes: DEFAULTS }));
    expect(noList.message).toMatch(/tenants|keys/);
    const notAnObject = configError(() => loadKeyEntries({ file: keysFile('[]'), defaultPrefixes: DEFAULTS }));
    expect(notAnObject.message).toContain('Invalid API_KEYS_FILE');
  });

  it('refuses an allowed prefix that does not end in "/" (it would also cover team-a-other/)', () => {
    const error = configError(() => fromFile([{ name: 'team-a', key: KEY_A, allowedPrefixes: ['s3://data-bucket/team-a'] }]));
    expect(error.message).toContain('keys[0] (team-a).allowedPrefixes.0');
    expect(error.message).not.toContain(KEY_A);
  });
});
