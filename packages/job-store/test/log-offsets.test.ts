import { openRedisNamespace } from '@inno-train/test-kit';
import { createJobStore, jobDataKeys, newJobId, storeKeys } from '../src';

describe('the stored log, appended at a host offset', () => {
  const space = openRedisNamespace('log-offsets');
  const { redis, namespace } = space;
  const store = createJobStore({ redis, namespace, maxLogBytes: 16 });

  afterAll(async () => {
    await space.close();
  });

  it('appends from offset 0 of a host nobody read yet, and then only from where the stored log ends', async () => {
    const id = newJobId();
    expect(await store.logOffset(id, 'i-1')).toBe(0);
    expect(await store.logOffsetIfSet(id, 'i-1')).toBeNull();
    expect(await store.appendLogAt(id, 'i-1', 0, 4, 'abc\n')).toEqual({ appended: true, offset: 4 });
    expect(await store.appendLogAt(id, 'i-1', 4, 3, 'de\n')).toEqual({ appended: true, offset: 7 });
    expect(await store.log(id)).toBe('abc\nde\n');
    expect(await store.logOffset(id, 'i-1')).toBe(7);
  });

  it('refuses an append from any other offset, changes nothing and answers where the log ends', async () => {
    const id = newJobId();
    expect(await store.appendLogAt(id, 'i-1', 3, 2, 'x\n')).toEqual({ appended: false, offset: 0 });
    await store.appendLogAt(id, 'i-1', 0, 2, 'a\n');
    // A second reader of the same bytes (the poll step behind the live tail) is refused.
    expect(await store.appendLogAt(id, 'i-1', 0, 2, 'a\n')).toEqual({ appended: false, offset: 2 });
    expect(await store.appendLogAt(id, 'i-1', 5, 2, 'z\n')).toEqual({ appended: false, offset: 2 });
    expect(await store.log(id)).toBe('a\n');
    expect((await store.logFrom(id, 0)).size).toBe(2);
  });

  it('lets exactly one of many racing appends of the same bytes through', async () => {
    const id = newJobId();
    const answers = await Promise.all(Array.from({ length: 20 }, () => store.appendLogAt(id, 'i-1', 0, 3, 'ok\n')));
    expect(answers.filter((a) => a.appended)).toHaveLength(1);
    expect(answers.every((a) => a.offset === 3)).toBe(true);
    expect(await store.log(id)).toBe('ok\n');
  });

  it('keeps one offset per host: a job restarted on a new host reads its train.log from 0', async () => {
    const id = newJobId();
    await store.appendLogAt(id, 'i-old', 0, 6, 'first\n');
    expect(await store.appendLogAt(id, 'i-new', 0, 7, 'second\n')).toEqual({ appended: true, offset: 7 });
    expect(await store.logOffset(id, 'i-old')).toBe(6);
    expect(await store.log(id)).toBe('first\nsecond\n');
  });

  it('counts every byte and keeps the cap like appendLog, and stores the offset in host bytes', async () => {
    const id = newJobId();
    // Consumed is the host's byte count, which the text's UTF-8 length matches.
    const text = 'été 0123456789\n';
    expect(await store.appendLogAt(id, 'i-1', 0, Buffer.byteLength(text), text)).toEqual({ appended: true, offset: 17 });
    await store.appendLogAt(id, 'i-1', 17, 4, 'end\n');
    const read = await store.logFrom(id, 0);
    expect({ size: read.size, truncated: read.truncated, kept: read.text.length }).toEqual({ size: 21, truncated: true, kept: 16 });
    expect(read.text.toString('utf8').endsWith('end\n')).toBe(true);
  });

  it('moves the offset without text (an empty chunk) only from the stored offset', async () => {
    const id = newJobId();
    expect(await store.appendLogAt(id, 'i-1', 0, 0, '')).toEqual({ appended: true, offset: 0 });
    expect(await store.logOffsetIfSet(id, 'i-1')).toBe(0);
    expect(await store.log(id)).toBe('');
  });

  it('seeds an offset once: a later seed answers the stored one', async () => {
    const id = newJobId();
    expect(await store.seedLogOffset(id, 'i-1', 40)).toBe(40);
    expect(await store.seedLogOffset(id, 'i-1', 0)).toBe(40);
    expect(await store.appendLogAt(id, 'i-1', 0, 2, 'a\n')).toEqual({ appended: false, offset: 40 });
    expect(await store.appendLogAt(id, 'i-1', 40, 2, 'a\n')).toEqual({ appended: true, offset: 42 });
  });

  it('names the offsets among the job data keys, so deleting the job deletes them', async () => {
    const id = newJobId();
    await store.appendLogAt(id, 'i-1', 0, 2, 'a\n');
    const keys = storeKeys(namespace);
    expect(jobDataKeys(keys, id)).toContain(keys.logOffsets(id));
    expect(await redis.exists(keys.logOffsets(id))).toBe(1);
  });
});
