/**
 * A server-sent events client for the stream tests and the latency benchmark: node:http and a parser written from the spec
 * (fields `id`, `event`, `data`, `retry`; `:` comments; a blank line ends a message), keeping every
 * message and comment with the time it arrived.
 */
import http from 'node:http';

export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
  /** When the message was complete: ms since the epoch, sub-millisecond (performance.timeOrigin + now()). */
  at: number;
}

export interface SseConnection {
  status: number;
  headers: http.IncomingHttpHeaders;
  messages: SseMessage[];
  comments: string[];
  /** The body of an answer that is not a stream (an error). */
  text(): string;
  /** Settles when the server ends the answer or the connection drops. */
  ended: Promise<void>;
  isEnded(): boolean;
  close(): void;
}

/** Opens `url` and resolves once the answer's headers are in; messages arrive on the returned connection. */
export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseConnection> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      res.setEncoding('utf8');
      let raw = '';
      let ended = false;
      const parser = sseParser();
      const connection: SseConnection = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        messages: parser.messages,
        comments: parser.comments,
        text: () => raw,
        ended: new Promise<void>((done) => {
          const finish = () => {
            ended = true;
            done();
          };
          res.once('end', finish);
          res.once('close', finish);
          res.once('error', finish);
        }),
        isEnded: () => ended,
        close: () => req.destroy(),
      };
      res.on('data', (chunk: string) => {
        raw += chunk;
        parser.push(chunk);
      });
      resolve(connection);
    });
    // Once the answer has begun, a dropped connection ends it (`ended`); an error before that rejects.
    req.on('error', reject);
  });
}

/** The SSE line protocol, fed with text as it arrives. */
export function sseParser() {
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  let pending = '';
  let block: { id?: string; event?: string; data: string[] } = { data: [] };
  const line = (text: string) => {
    if (text === '') {
      if (block.data.length > 0 || block.event !== undefined) {
        messages.push({
          id: block.id,
          event: block.event ?? 'message',
          data: block.data.join('\n'),
          at: performance.timeOrigin + performance.now(),
        });
      }
      block = { data: [] };
      return;
    }
    if (text.startsWith(':')) return void comments.push(text.slice(1).trim());
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    const value = colon < 0 ? '' : text.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') block.id = value;
    else if (field === 'event') block.event = value;
    else if (field === 'data') block.data.push(value);
  };
  return {
    messages,
    comments,
    push(chunk: string) {
      pending += chunk;
      const lines = pending.split(/\r\n|\r|\n/);
      pending = lines.pop() ?? '';
      for (const text of lines) line(text);
    },
  };
}
