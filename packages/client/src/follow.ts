/**
 * Following a job live: GET /v1/jobs/:id/stream read as server-sent events and handed out as typed
 * messages. A dropped connection is made again with `Last-Event-ID` (the id of the last message
 * handed out), so the caller sees every message once, in order, however often the stream drops.
 */
import { describeFailure, InnoTrainConnectionError, InnoTrainError } from './errors';
import { retryDelayMs, sleep, type TryFailure } from './retry';
import { errorFromAnswer, headersFor, originOf, urlFor, type Call, type TransportConfig } from './transport';
import type { FollowOptions, StreamMessage } from './types';

/** The wait before reconnecting until the stream's `retry:` says otherwise (the API sends 1000). */
const DEFAULT_RECONNECT_MS = 1000;
/** Four of the API's 15 s pings may be missed before a quiet connection is taken for dead. */
const DEFAULT_IDLE_TIMEOUT_MS = 45_000;

/** One message as the wire carries it. */
export interface SseMessage {
  event: string;
  data: string;
  /** The last `id:` seen up to this message (the stream's "last event ID"), or null for none yet. */
  id: string | null;
}

export interface SseParser {
  /** Feeds decoded text; whole messages go to `onMessage` as their blank line arrives. */
  push(text: string): void;
}

/**
 * A parser for the server-sent events format (the WHATWG rules: LF, CR or CRLF line ends; `:`
 * comments; `event`, `data`, `id`, `retry` fields; a message without data is not dispatched). A
 * message cut off by the end of the stream is never dispatched, so its id is never resumed from.
 */
export function createSseParser(onMessage: (message: SseMessage) => void, onRetry: (ms: number) => void = () => undefined): SseParser {
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let lastId: string | null = null;
  let idBuffer: string | null = null;

  function field(line: string): void {
    if (line === '') {
      lastId = idBuffer;
      if (data.length > 0) onMessage({ event: event || 'message', data: data.join('\n'), id: lastId });
      event = '';
      data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'event') event = value;
    else if (name === 'data') data.push(value);
    else if (name === 'id' && !value.includes('\0')) idBuffer = value;
    else if (name === 'retry' && /^\d+$/.test(value)) onRetry(Number(value));
  }

  /** The last read ended in CR: an LF starting this one is the second half of that CRLF. */
  let afterCR = false;

  return {
    push(text) {
      buffer += text;
      if (afterCR && buffer.startsWith('\n')) buffer = buffer.slice(1);
      afterCR = false;
      for (;;) {
        const end = buffer.search(/[\r\n]/);
        if (end === -1) return;
        const crlf = buffer[end] === '\r' && buffer[end + 1] === '\n';
        if (buffer[end] === '\r' && end === buffer.length - 1) afterCR = true;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + (crlf ? 2 : 1));
        field(line);
      }
    },
  };
}

function streamError(call: Call, why: string): InnoTrainError {
  return new InnoTrainError({ code: 'invalid_response', status: 200, message: `${call.method} ${call.path}: ${why}` });
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The typed message, or null for an event name this build does not know (a newer API's): it is
 * skipped, and its id still counts as seen.
 */
export function streamMessageOf(call: Call, message: SseMessage): StreamMessage | null {
  const { event, id } = message;
  if (!['status', 'progress', 'event', 'log', 'end'].includes(event)) return null;
  if (id === null) throw streamError(call, `the stream sent a ${event} message without an id`);
  let data: unknown;
  try {
    data = JSON.parse(message.data);
  } catch {
    throw streamError(call, `the stream's ${event} message is not JSON`);
  }
  const bad = () => streamError(call, `the stream's ${event} message (id ${id}) is not what the API sends`);
  switch (event) {
    case 'progress':
      if (data !== null && !isObject(data)) throw bad();
      return { type: 'progress', id, progress: data as Extract<StreamMessage, { type: 'progress' }>['progress'] };
    case 'event':
      if (!isObject(data)) throw bad();
      return { type: 'event', id, event: data as Extract<StreamMessage, { type: 'event' }>['event'] };
    case 'log':
      if (!isObject(data) || typeof data.offset !== 'number' || typeof data.text !== 'string') throw bad();
      return { type: 'log', id, offset: data.offset, text: data.text };
    case 'status':
      if (!isObject(data) || typeof data.status !== 'string') throw bad();
      return { type: 'status', id, status: data.status as Extract<StreamMessage, { type: 'status' }>['status'] };
    default:
      if (!isObject(data) || typeof data.status !== 'string' || typeof data.settledAt !== 'string') throw bad();
      return {
        type: 'end',
        id,
        status: data.status as Extract<StreamMessage, { type: 'end' }>['status'],
        settledAt: data.settledAt,
      };
  }
}

/**
 * The stream at `path`, message by message, until `end` (or a 204: the stream had already ended
 * at `lastEventId`). Error answers throw as every other call does (InnoTrainError with the API's
 * code); 429, 5xx and connections that fail or drop are tried again, waiting the longer of the
 * policy's backoff and the stream's `retry:`. The count of tries starts over whenever a connection
 * delivered a message, so a long follow survives any number of drops that each made progress.
 */
export async function* followStream(
  config: TransportConfig,
  path: string,
  options: FollowOptions = {},
): AsyncGenerator<StreamMessage, void, undefined> {
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  let lastEventId = options.lastEventId;
  let reconnectMs = DEFAULT_RECONNECT_MS;
  let failures = 0;
  for (;;) {
    options.signal?.throwIfAborted();
    const headers: Record<string, string> = { accept: 'text/event-stream', 'cache-control': 'no-store' };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    const call: Call = { method: 'GET', path, headers, signal: options.signal };
    // Aborted when this connection is over, whatever ended it: the socket is never left open.
    const connection = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, connection.signal]) : connection.signal;
    let problem: InnoTrainError;
    let failure: TryFailure = { status: null, retryAfterMs: null };
    let delivered = 0;
    let idle: NodeJS.Timeout | undefined;
    const quiet = (ms: number, why: string) => {
      clearTimeout(idle);
      idle = setTimeout(() => connection.abort(new Error(why)), ms);
    };
    try {
      quiet(config.timeoutMs, `no answer within ${config.timeoutMs} ms`);
      const response = await config.fetch(urlFor(config.baseUrl, call), { method: 'GET', headers: headersFor(config, call), signal });
      if (response.status === 204) return;
      if (response.status !== 200) {
        const answer = { status: response.status, headers: response.headers, text: await response.text() };
        problem = errorFromAnswer(config, call, answer, failures + 1);
        failure = { status: answer.status, retryAfterMs: problem.retryAfterMs };
      } else {
        if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream') || !response.body) {
          throw streamError(call, 'answered 200 with something other than an event stream');
        }
        const received: SseMessage[] = [];
        const parser = createSseParser(
          (message) => received.push(message),
          (ms) => (reconnectMs = ms),
        );
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          quiet(idleTimeoutMs, `nothing received for ${idleTimeoutMs} ms`);
          const { value, done } = await reader.read();
          if (done) break;
          parser.push(decoder.decode(value, { stream: true }));
          for (let next = received.shift(); next; next = received.shift()) {
            if (next.id !== null) lastEventId = next.id;
            const message = streamMessageOf(call, next);
            if (!message) continue;
            delivered += 1;
            // The caller may take its time with a message: that is not a quiet connection.
            clearTimeout(idle);
            yield message;
            if (message.type === 'end') return;
          }
        }
        // Closed before `end`: the API process stopped (a deploy); another one resumes the stream.
        problem = new InnoTrainConnectionError(
          `GET ${path}: the stream from ${originOf(config.baseUrl)} closed before its end`,
          failures + 1,
          null,
        );
      }
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (error instanceof InnoTrainError) throw error;
      const reason = connection.signal.aborted ? describeFailure(connection.signal.reason) : describeFailure(error);
      problem = new InnoTrainConnectionError(
        `GET ${path}: ${delivered > 0 ? 'the stream dropped' : 'no answer'} from ${originOf(config.baseUrl)} (${reason})`,
        failures + 1,
        error,
      );
    } finally {
      clearTimeout(idle);
      connection.abort();
    }
    failures = delivered > 0 ? 1 : failures + 1;
    const backoff = retryDelayMs(config.retry, failures, failure);
    if (backoff === null) throw problem;
    await sleep(Math.max(backoff, reconnectMs), options.signal);
  }
}
