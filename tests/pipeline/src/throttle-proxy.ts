/**
 * An HTTP proxy on loopback in front of the embedded S3 server that behaves like one TCP path to S3:
 * every client connection is capped at a byte rate (both directions), and faults can be injected
 * into response bodies (a connection cut mid-part, a byte flipped in flight). Used by
 * bench:transfer and by the transfer engine's fault tests.
 *
 * Requests are forwarded unchanged, Host header included: SigV4 signs the Host, so clients sign for
 * the proxy's host:port (SDK endpoint / presigned URLs made with `endpoint`) and s3rver verifies
 * against the Host it receives, which is that same value. Only hop-by-hop headers (Connection,
 * Keep-Alive, Expect, Transfer-Encoding) are left to each hop; none of them is ever signed.
 *
 * Why a per-connection cap and not a global one: a real S3 path gives each TCP connection ~85-90 MB/s
 * and more connections add up, which is the whole point of parallel ranged GETs; a single global
 * cap would make every engine look the same.
 *
 * Cheap on purpose: bytes go through as the chunks Node reads (~64 KiB), each one delayed by a
 * timer only when the connection's bucket is empty, with pause/resume for backpressure.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';

import type {
  FaultAction,
  FaultHit,
  FaultRule,
  ProxiedRequest,
  RequestRecord,
  ThrottleProxy,
  ThrottleProxyOptions,
} from './throttle-proxy-types';

export type * from './throttle-proxy-types';

/** Hop-by-hop headers each side of the proxy sets for itself; never part of a SigV4 signature. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'expect', 'transfer-encoding', 'upgrade', 'te']);

function endToEnd(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/**
 * Virtual-clock token bucket: each chunk is scheduled after the bytes before it at the capped rate.
 * A connection idle for a while may send one burst of BURST_BYTES at once, no more.
 */
class RateClock {
  private nextFree = 0;

  constructor(private readonly rate: () => number) {}

  /** Milliseconds to wait before sending `bytes` (0 = now), reserving their slot. */
  reserve(bytes: number): number {
    const rate = this.rate();
    if (rate <= 0) return 0;
    const now = performance.now();
    const burstMs = (BURST_BYTES * 1000) / rate;
    const start = Math.max(this.nextFree, now - burstMs);
    this.nextFree = start + (bytes * 1000) / rate;
    return Math.max(0, this.nextFree - now);
  }
}

const BURST_BYTES = 64 * 1024;

interface ConnectionState {
  id: number;
  /** Which reset() period it was opened in: only those count towards that period's peak. */
  period: number;
  down: RateClock;
  up: RateClock;
}

/**
 * Moves `source`'s data into `target` at the clock's rate, honouring backpressure both ways.
 * `onChunk` may return a (possibly shorter or altered) chunk, or `stop` to write it and end.
 * The source is paused only while a chunk waits for its slot or the target for 'drain': at an
 * uncapped rate the chunks flow straight through.
 */
function throttledPipe(
  source: Readable,
  target: Writable,
  clock: RateClock,
  onChunk: (chunk: Buffer) => { chunk: Buffer; stop: boolean },
  onEnd: () => void,
): void {
  let stopped = false;
  let ended = false;
  let timerPending = false;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    onEnd();
  };
  const resumeOnDrain = (): void => {
    target.once('drain', () => source.resume());
  };
  /** Writes one chunk; false when the source must wait (for 'drain', or for ever: stopped or target gone). */
  const write = (chunk: Buffer, stop: boolean): boolean => {
    // A target gone (client or upstream closed) is cleaned up by the request's own handlers.
    if (target.destroyed) return false;
    const more = target.write(chunk);
    if (stop) {
      source.destroy();
      finish();
      return false;
    }
    if (!more) resumeOnDrain();
    return more;
  };
  source.on('data', (data: Buffer) => {
    if (stopped) return;
    const { chunk, stop } = onChunk(data);
    if (stop) stopped = true;
    const wait = clock.reserve(chunk.length);
    if (wait <= 0) {
      if (!write(chunk, stop)) source.pause();
      return;
    }
    source.pause();
    timerPending = true;
    setTimeout(() => {
      timerPending = false;
      if (write(chunk, stop)) source.resume();
      if (ended && !stopped) finish();
    }, wait);
  });
  source.on('end', () => {
    ended = true;
    // A chunk may still be waiting on its timer: the timer ends the target after writing it.
    if (!timerPending && !stopped) finish();
  });
}

export async function startThrottleProxy(options: ThrottleProxyOptions): Promise<ThrottleProxy> {
  const upstream = new URL(options.upstream);
  if (upstream.protocol !== 'http:') throw new Error(`throttle proxy: upstream must be http://, got ${options.upstream}`);
  const upstreamPort = Number(upstream.port || 80);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256 });
  let bytesPerSecond = options.bytesPerSecond;
  const rate = (): number => bytesPerSecond;

  const sockets = new Map<Socket, ConnectionState>();
  let nextConnection = 1;
  let nextRequest = 1;
  let counters = { connections: 0, peakConnections: 0, peakActiveConnections: 0, bytesFromClient: 0, bytesToClient: 0 };
  /** Requests in flight per client connection id. */
  const inFlight = new Map<number, number>();
  let period = 0;
  /** Connections opened in this period and still open. */
  let openInPeriod = 0;
  let requests: RequestRecord[] = [];
  const rules: { rule: FaultRule; left: number }[] = [];
  const hits: FaultHit[] = [];

  const server = http.createServer({ keepAliveTimeout: 60_000, requestTimeout: 0 }, handle);
  server.on('connection', (socket: Socket) => {
    const state = { id: nextConnection++, period, down: new RateClock(rate), up: new RateClock(rate) };
    sockets.set(socket, state);
    counters.connections += 1;
    openInPeriod += 1;
    counters.peakConnections = Math.max(counters.peakConnections, openInPeriod);
    socket.once('close', () => {
      sockets.delete(socket);
      if (state.period === period) openInPeriod -= 1;
    });
  });

  function takeFault(request: ProxiedRequest): FaultAction | undefined {
    for (const entry of rules) {
      if (entry.left > 0 && entry.rule.match(request)) {
        entry.left -= 1;
        hits.push({ action: entry.rule.action, request });
        return entry.rule.action;
      }
    }
    return undefined;
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const conn = sockets.get(socket) ?? { id: 0, period, down: new RateClock(rate), up: new RateClock(rate) };
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const query = q >= 0 ? url.slice(q + 1) : '';
    const params = new URLSearchParams(query);
    const partNumber = params.get('partNumber');
    const range = req.headers.range;
    const request: ProxiedRequest = {
      id: nextRequest++,
      connection: conn.id,
      method: req.method ?? 'GET',
      path: q >= 0 ? url.slice(0, q) : url,
      query,
      uploadId: params.has('uploadId'),
      headers: req.headers,
      ...(partNumber !== null ? { partNumber: Number(partNumber) } : {}),
      ...(range !== undefined ? { range } : {}),
    };
    const { headers: _headers, ...logged } = request;
    const record: RequestRecord = { ...logged, bytesFromClient: 0, bytesToClient: 0 };
    const log = requests;
    log.push(record);
    const fault = takeFault(request);
    if (fault) record.fault = fault.kind;
    inFlight.set(conn.id, (inFlight.get(conn.id) ?? 0) + 1);
    counters.peakActiveConnections = Math.max(counters.peakActiveConnections, inFlight.size);
    const arrived = performance.now();
    res.once('close', () => {
      record.ms = Math.round(performance.now() - arrived);
      const left = (inFlight.get(conn.id) ?? 1) - 1;
      if (left > 0) inFlight.set(conn.id, left);
      else inFlight.delete(conn.id);
    });

    const upstreamReq = http.request({
      agent,
      host: upstream.hostname,
      port: upstreamPort,
      method: request.method,
      path: url,
      headers: endToEnd(req.rawHeaders),
      setHost: false,
    });
    // The request body is re-sent as it came: with its Content-Length, or chunked (Node's default) without one.
    upstreamReq.on('error', () => {
      if (res.destroyed) return;
      if (!res.headersSent) {
        record.status = 502;
        res.writeHead(502, { 'content-type': 'text/plain' }).end('throttle proxy: upstream failed');
      } else {
        socket.destroy();
      }
    });
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });

    throttledPipe(
      req,
      upstreamReq,
      conn.up,
      (chunk) => {
        record.bytesFromClient += chunk.length;
        if (log === requests) counters.bytesFromClient += chunk.length;
        return { chunk, stop: false };
      },
      () => upstreamReq.end(),
    );

    upstreamReq.on('response', (upstreamRes: IncomingMessage) => {
      record.status = upstreamRes.statusCode;
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, endToEnd(upstreamRes.rawHeaders));
      let sent = 0;
      throttledPipe(
        upstreamRes,
        res,
        conn.down,
        (data) => {
          let chunk = data;
          let stop = false;
          if (fault?.kind === 'flip-byte' && fault.offset >= sent && fault.offset < sent + chunk.length) {
            chunk = Buffer.from(chunk);
            chunk[fault.offset - sent] = chunk[fault.offset - sent]! ^ 0xff;
          } else if (fault?.kind === 'drop-after' && sent + chunk.length >= fault.bytes) {
            chunk = chunk.subarray(0, Math.max(0, fault.bytes - sent));
            stop = true;
          }
          sent += chunk.length;
          record.bytesToClient += chunk.length;
          if (log === requests) counters.bytesToClient += chunk.length;
          return { chunk, stop };
        },
        () => {
          if (fault?.kind === 'drop-after') {
            // The bytes before the cut reach the client (written, then FIN), then the socket is destroyed:
            // the client sees its connection end mid-body, short of Content-Length.
            socket.destroySoon();
          } else {
            res.end();
          }
        },
      );
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('throttle proxy: no TCP address');
  const host = options.host ?? '127.0.0.1';
  let closing: Promise<void> | undefined;

  return {
    endpoint: `http://${host}:${address.port}`,
    port: address.port,
    stats: () => ({
      ...counters,
      openConnections: sockets.size,
      requests: requests.map((r) => ({ ...r })),
    }),
    reset: () => {
      counters = { connections: 0, peakConnections: 0, peakActiveConnections: inFlight.size, bytesFromClient: 0, bytesToClient: 0 };
      period += 1;
      openInPeriod = 0;
      requests = [];
    },
    faults: {
      add: (rule) => {
        const times = rule.times ?? 1;
        if (!Number.isInteger(times) || times < 1) throw new Error('throttle proxy: times must be a positive integer');
        rules.push({ rule, left: times });
      },
      clear: () => {
        rules.length = 0;
      },
      hits: () => [...hits],
      pending: () => rules.filter((entry) => entry.left > 0).length,
    },
    setBytesPerSecond: (value) => {
      bytesPerSecond = value;
    },
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets.keys()) socket.destroy();
        agent.destroy();
      });
      return closing;
    },
  };
}
