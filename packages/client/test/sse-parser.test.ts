import { createSseParser, type SseMessage } from '../src/follow';

function parse(chunks: string[]) {
  const messages: SseMessage[] = [];
  const retries: number[] = [];
  const parser = createSseParser(
    (m) => messages.push(m),
    (ms) => retries.push(ms),
  );
  for (const chunk of chunks) parser.push(chunk);
  return { messages, retries };
}

describe('createSseParser', () => {
  it('reads LF, CR and CRLF line ends, even split across reads, and skips comments', () => {
    const wire = 'retry: 1000\n\n: ping\n\nid: 1\nevent: log\ndata: {"a":1}\r\n\r\nid: 2\revent: status\rdata: x\r\r';
    for (const size of [1, 2, 3, 7, wire.length]) {
      const chunks = wire.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g'))!;
      expect(parse(chunks)).toEqual({
        messages: [
          { event: 'log', data: '{"a":1}', id: '1' },
          { event: 'status', data: 'x', id: '2' },
        ],
        retries: [1000],
      });
    }
  });

  it('joins data lines, keeps the last id for messages without one, and never dispatches a message cut off', () => {
    expect(parse(['id: 7\ndata: a\ndata:b\n\ndata: c\n\nid: 8\nevent: end\ndata: {}']).messages).toEqual([
      { event: 'message', data: 'a\nb', id: '7' },
      { event: 'message', data: 'c', id: '7' },
    ]);
  });
});
