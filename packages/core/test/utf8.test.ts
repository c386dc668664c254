import { completeUtf8Length } from '../src';

describe('completeUtf8Length', () => {
  it.each([
    ['ascii', Buffer.from('abc'), 3],
    ['a whole 2-byte character', Buffer.from('aé'), 3],
    ['a 2-byte character cut after its lead byte', Buffer.from('aé').subarray(0, 2), 1],
    ['a 4-byte character cut after 3 bytes', Buffer.from('a😀').subarray(0, 4), 1],
    ['a whole 4-byte character', Buffer.from('a😀'), 5],
    ['only continuation bytes (not UTF-8 at all): kept whole', Buffer.from([0x80, 0x80]), 2],
    ['empty', Buffer.alloc(0), 0],
  ])('%s', (_name, buf, expected) => {
    expect(completeUtf8Length(buf)).toBe(expected);
  });

  it('cuts valid text only between characters', () => {
    const text = Buffer.from('añ😀€b');
    for (let end = 0; end <= text.length; end++) {
      const cut = text.subarray(0, end);
      expect(cut.subarray(0, completeUtf8Length(cut)).toString('utf8')).not.toContain('\uFFFD');
    }
  });
});
