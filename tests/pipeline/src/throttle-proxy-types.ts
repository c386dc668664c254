/**
 * The throttle proxy's public shapes (throttle-proxy.ts): what its request log records, the faults it
 * injects, its options and its handle.
 */
/** What fault matchers and the request log see of one proxied request. */
export interface ProxiedRequest {
  /** 1, 2, ... in arrival order since the proxy started. */
  id: number;
  /** Id of the client TCP connection it came on (1, 2, ... since the proxy started). */
  connection: number;
  method: string;
  /** Path without the query, still percent-encoded, e.g. `/bucket/key%20name`. */
  path: string;
  /** The raw query string without `?` (X-Amz-* of presigned URLs included). */
  query: string;
  /** `partNumber` of an UploadPart (or a part GET), if any. */
  partNumber?: number;
  /** Whether the query names an `uploadId` (UploadPart, Complete, Abort, ListParts). */
  uploadId: boolean;
  /** The Range header as sent, e.g. `bytes=0-8388607`. */
  range?: string;
  /** Request headers, names lower-cased (as Node parses them). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** One finished (or cut) request, as listed by stats(). */
export interface RequestRecord extends Omit<ProxiedRequest, 'headers'> {
  /** Upstream status, or 502 when the upstream failed before answering; undefined if cut before. */
  status?: number;
  /** Request body bytes received from the client. */
  bytesFromClient: number;
  /** Response body bytes written to the client. */
  bytesToClient: number;
  /** Set when a fault rule hit this request. */
  fault?: FaultAction['kind'];
  /** From the request's arrival to the response's end (or the cut), milliseconds; unset while in flight. */
  ms?: number;
}

export interface ProxyStats {
  /** Client TCP connections accepted since start/reset. */
  connections: number;
  /** Client TCP connections open now. */
  openConnections: number;
  /** Most client connections open at once, of those accepted since start/reset. */
  peakConnections: number;
  /**
   * Most client connections with a request in flight at once since start/reset: the connections
   * that really moved bytes together (an idle keep-alive connection is open but not active).
   */
  peakActiveConnections: number;
  /** Request bodies received from clients, bytes. */
  bytesFromClient: number;
  /** Response bodies sent to clients, bytes. */
  bytesToClient: number;
  /** Requests in arrival order (the ones still in flight show their bytes so far). */
  requests: RequestRecord[];
}

/**
 * A fault in a response body. A body shorter than `bytes` / `offset` goes through whole (the request
 * still counts as hit: the rule's match decides which requests are targets).
 */
export type FaultAction =
  /** Send this many bytes of the response body (headers first), then close the client connection. */
  | { kind: 'drop-after'; bytes: number }
  /** XOR 0xff into the response body byte at this offset (counted from the body's first byte). */
  | { kind: 'flip-byte'; offset: number };

export interface FaultRule {
  match(request: ProxiedRequest): boolean;
  action: FaultAction;
  /** How many matching requests it hits (default 1). */
  times?: number;
}

export interface FaultHit {
  action: FaultAction;
  request: ProxiedRequest;
}

export interface FaultControl {
  /** Adds a rule; rules are tried in the order added and the first one with hits left applies. */
  add(rule: FaultRule): void;
  /** Removes every rule (hits stay listed). */
  clear(): void;
  /** Requests the rules hit, in order. */
  hits(): FaultHit[];
  /** Rules that still have hits left. */
  pending(): number;
}

export interface ThrottleProxyOptions {
  /** Base URL of the server behind the proxy, e.g. the S3 handle's `endpoint`. */
  upstream: string;
  /** Cap per client TCP connection and direction, bytes per second; 0 means no cap. */
  bytesPerSecond: number;
  /** Loopback by default: 127.0.0.1. */
  host?: string;
}

export interface ThrottleProxy {
  /** `http://host:port`: the endpoint clients must use (and sign for). */
  endpoint: string;
  port: number;
  stats(): ProxyStats;
  /** Zeroes counters and the request log; open connections stay open and stay counted as open. */
  reset(): void;
  faults: FaultControl;
  /** Changes the cap for bytes sent from now on (all connections). */
  setBytesPerSecond(bytesPerSecond: number): void;
  /** Stops listening, cuts every client connection, closes upstream sockets. Safe to call twice. */
  close(): Promise<void>;
}
