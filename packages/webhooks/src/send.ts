/**
 * One POST of a signed event to an endpoint. It connects to the address the guard checked (a
 * custom `lookup`: the name is not resolved again, so a rebinding DNS answer cannot redirect it),
 * follows no redirect (a 3xx is a failed attempt), gives up after `timeoutMs`, and reads at most
 * `maxResponseBytes` of the answer (the body is not used; a receiver streaming forever cannot hold us).
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { CheckedUrl } from './url-guard';

export interface SendOptions {
  timeoutMs: number;
  maxResponseBytes: number;
}

export interface SendResult {
  statusCode: number;
}

export function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  }) as unknown as LookupFunction;
}

export function postSigned(target: CheckedUrl, headers: Record<string, string>, body: string, options: SendOptions): Promise<SendResult> {
  const { url, address } = target;
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | null, result?: SendResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(result!);
    };
    const request = client.request(
      url,
      {
        method: 'POST',
        agent: false,
        lookup: pinnedLookup(address.address, address.family),
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'inno-train-webhooks/1',
        },
      },
      (response) => {
        let read = 0;
        const statusCode = response.statusCode ?? 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > options.maxResponseBytes) {
            response.destroy();
            finish(null, { statusCode });
          }
        });
        response.on('end', () => finish(null, { statusCode }));
        response.on('error', () => finish(null, { statusCode }));
      },
    );
    const timer = setTimeout(() => {
      request.destroy();
      finish(new Error(`no answer within ${Math.round(options.timeoutMs / 1000)} s`));
    }, options.timeoutMs);
    request.on('error', (error) => finish(error));
    request.end(body);
  });
}
