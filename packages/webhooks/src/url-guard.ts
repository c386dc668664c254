/**
 * The SSRF guard for webhook URLs. A client names the URL and the service POSTs to it from inside
 * our network, so a URL that reaches a loopback, private, link-local, CGNAT, multicast or cloud
 * metadata address (169.254.169.254 hands out instance credentials) would let any client probe or
 * call our own infrastructure. Checked at registration and again at every delivery, on the
 * addresses the name resolves to then; the delivery connects to the very address checked (see
 * delivery.ts: a custom `lookup`), so a DNS answer that changes between check and connect (DNS
 * rebinding) cannot slip a private address in.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { MAX_WEBHOOK_URL_LENGTH } from '@inno-train/schemas';

export interface UrlGuardOptions {
  /** Allow http:// (tests and development only). */
  allowHttp: boolean;
  /** Allow private, loopback and link-local addresses (tests and development only). */
  allowPrivateNetworks: boolean;
  /** Resolves a host name to its addresses (default: the system resolver, every address). */
  resolve?: (host: string) => Promise<ResolvedAddress[]>;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** A URL the guard refused; the message names why, never the URL's query (it may hold tokens). */
export class WebhookUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookUrlError';
  }
}

/** A URL that passed, and the address a request to it must connect to. */
export interface CheckedUrl {
  url: URL;
  address: ResolvedAddress;
}

const BLOCKED = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], // "this network", including the unspecified address
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // CGNAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, including 169.254.169.254 (cloud metadata)
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and the broadcast address
] as const) {
  BLOCKED.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['100::', 64], // discard-only
  ['fc00::', 7], // unique local, including fd00:ec2::254 (AWS metadata over IPv6)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated, still routed by some)
  ['ff00::', 8], // multicast
] as const) {
  BLOCKED.addSubnet(net, bits, 'ipv6');
}

/** The 16 bytes of an IPv6 address (any textual form, an embedded dotted IPv4 included), or null. */
export function ipv6Bytes(text: string): number[] | null {
  let address = text.replace(/%.*$/, '');
  if (isIP(address) !== 6) return null;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    address = `${address.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = address.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = halves.length === 2 ? 8 - left.length - right.length : 0;
  const all = [...left, ...Array<number>(Math.max(fill, 0)).fill(0), ...right];
  if (all.length !== 8 || all.some((g) => Number.isNaN(g))) return null;
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

/**
 * The IPv4 address an IPv6 address carries, when a packet to it would reach that IPv4 address:
 * IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d),
 * NAT64 (64:ff9b::/96) and 6to4 (2002:aabb:ccdd::/16).
 */
export function embeddedIpv4(address: string): string | null {
  const b = ipv6Bytes(address);
  if (!b) return null;
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const v4 = (at: number) => b.slice(at, at + 4).join('.');
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return v4(12);
  if (zero(0, 8) && b[8] === 0xff && b[9] === 0xff && zero(10, 12)) return v4(12);
  if (zero(0, 12) && !zero(12, 16) && !(zero(12, 15) && b[15] === 1)) return v4(12);
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return v4(12);
  if (b[0] === 0x20 && b[1] === 0x02) return v4(2);
  return null;
}

/** Why an address may not be called, or null when it may. */
export function blockedReason(address: string): string | null {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) return BLOCKED.check(bare, 'ipv4') ? `${bare} is a loopback, private, link-local or reserved address` : null;
  if (family !== 6) return `${bare} is not an IP address`;
  const v4 = embeddedIpv4(bare);
  if (v4 !== null && BLOCKED.check(v4, 'ipv4')) return `${bare} carries ${v4}, a loopback, private, link-local or reserved address`;
  return BLOCKED.check(bare, 'ipv6') ? `${bare} is a loopback, private, link-local or reserved address` : null;
}

async function systemResolve(host: string): Promise<ResolvedAddress[]> {
  const answers = await dnsLookup(host, { all: true, verbatim: true });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
}

/** Checks what a URL looks like, without resolving it: scheme, length, credentials, host. */
export function parseWebhookUrl(raw: string, options: Pick<UrlGuardOptions, 'allowHttp'>): URL {
  if (raw.length > MAX_WEBHOOK_URL_LENGTH) throw new WebhookUrlError(`must be at most ${MAX_WEBHOOK_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WebhookUrlError('must be an absolute URL');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && options.allowHttp)) {
    throw new WebhookUrlError(options.allowHttp ? 'must be an https:// or http:// URL' : 'must be an https:// URL');
  }
  if (url.username !== '' || url.password !== '') throw new WebhookUrlError('may not carry credentials (user:password@)');
  if (url.hostname === '') throw new WebhookUrlError('must name a host');
  if (url.hash !== '') throw new WebhookUrlError('may not have a #fragment');
  return url;
}

/**
 * Checks a URL and resolves its host: every address the name has must be allowed (a name with one
 * public and one private address is refused: which one a client would get is up to the resolver).
 * Answers the first address, the one a delivery connects to.
 */
export async function checkWebhookUrl(raw: string, options: UrlGuardOptions): Promise<CheckedUrl> {
  const url = parseWebhookUrl(raw, options);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: ResolvedAddress[];
  const literal = isIP(host);
  if (literal !== 0) addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
  else {
    try {
      addresses = await (options.resolve ?? systemResolve)(host);
    } catch {
      throw new WebhookUrlError(`host ${JSON.stringify(host)} does not resolve`);
    }
    if (addresses.length === 0) throw new WebhookUrlError(`host ${JSON.stringify(host)} does not resolve`);
  }
  if (!options.allowPrivateNetworks) {
    for (const { address } of addresses) {
      const reason = blockedReason(address);
      if (reason) throw new WebhookUrlError(`host ${JSON.stringify(host)} resolves to a refused address: ${reason}`);
    }
  }
  return { url, address: addresses[0]! };
}
