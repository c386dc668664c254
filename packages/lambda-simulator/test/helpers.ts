/**
 * Test helpers: a raw HTTP caller, so the simulator is checked on the wire, not through the client it
 * is meant to test, and a manual clock. Waiting on a condition is test-kit's waitFor.
 */
export interface WireResponse {
  status: number;
  headers: Headers;
  body: any; // assertions read arbitrary JSON
  text: string;
}

export function apiCaller(baseUrl: string, apiKey: string) {
  return async function call(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<WireResponse> {
    const headers: Record<string, string> = { authorization: `Bearer ${apiKey}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { ...headers, ...(init.headers as Record<string, string> | undefined) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      signal: init.signal ?? null,
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  };
}

/** A manual clock: tests move time instead of waiting for it. */
export function manualClock(start = 1_700_000_000_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}
