/** The stream's cursor (its messages' ids) and how log bytes are cut into messages: pure functions, no Redis. */
import { formatCursor, logChunks, parseCursor, progressDigest, START_CURSOR } from '../src/stream-cursor';

describe('the cursor', () => {
  it('reads back what it writes, and nothing else', () => {
    const cursor = { event: 12, log: 40960, status: 'staging_out' as const, progress: progressDigest({ step: 3 }) };
    expect(parseCursor(formatCursor(cursor))).toEqual(cursor);
    expect(parseCursor(formatCursor(START_CURSOR))).toEqual(START_CURSOR);
    expect(formatCursor(START_CURSOR)).toBe('0.0.-.-');
    for (const bad of ['', '1.2.queued', '1.2.sleeping.-', '-1.0.queued.-', '1.2.queued.ABCDEF012345', '1.2.queued.-.x', '1e3.0.-.-']) {
      expect({ bad, parsed: parseCursor(bad) }).toEqual({ bad, parsed: null });
    }
  });

  it('tells progress records apart, and has none for no progress', () => {
    expect(progressDigest({ step: 1, loss: 0.5 })).toMatch(/^[0-9a-f]{12}$/);
    expect(progressDigest({ step: 1, loss: 0.5 })).not.toBe(progressDigest({ step: 1, loss: 0.25 }));
    expect(progressDigest(null)).toBeNull();
  });
});

describe('log chunks', () => {
  const bytes = (text: string) => Buffer.from(text, 'utf8');

  it('never splits a character, and offsets count bytes of the whole output', () => {
    const text = `ab€${'c'.repeat(5)}😀d`;
    const chunks = logChunks(bytes(text), 100, 4);
    expect(chunks.map((c) => c.text).join('')).toBe(text);
    for (const [i, chunk] of chunks.entries()) {
      expect(Buffer.byteLength(chunk.text)).toBeLessThanOrEqual(4);
      expect(chunk.end - chunk.offset).toBe(Buffer.byteLength(chunk.text));
      if (i > 0) expect(chunk.offset).toBe(chunks[i - 1]!.end);
    }
    expect(chunks[0]!.offset).toBe(100);
    expect(chunks.at(-1)!.end).toBe(100 + Buffer.byteLength(text));
  });

  it('skips the tail of a character the stored log was cut inside, and keeps an unfinished one for later', () => {
    const euro = bytes('€'); // e2 82 ac
    const cutInside = Buffer.concat([euro.subarray(1), bytes('ok'), euro.subarray(0, 2)]);
    expect(logChunks(cutInside, 10)).toEqual([{ offset: 12, text: 'ok', end: 14 }]);
    expect(logChunks(Buffer.alloc(0), 0)).toEqual([]);
  });
});
