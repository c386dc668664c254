/**
 * The demo's way to the API: the typed client (`@inno-train/client`, the same one any service uses),
 * set up with the demo's patience, and a health probe that service.ts uses to find or start the service.
 */
import { createClient, type InnoTrainClient } from '@inno-train/client';

/**
 * Tries per call and the waits between them (at least 0.25 + 0.5 + 1 + 2 + 4 s): a call survives
 * about 8 to 15 s of the service not answering (a restart), as the demo's own polling loop used to.
 */
const DEMO_RETRY = { attempts: 6, baseDelayMs: 500, maxDelayMs: 8000 };
const REQUEST_TIMEOUT_MS = 15_000;

export function createDemoClient(baseUrl: string, apiKey: string): InnoTrainClient {
  return createClient({ baseUrl, apiKey, userAgent: 'inno-train-demo', retry: DEMO_RETRY, timeoutMs: REQUEST_TIMEOUT_MS });
}

export type Health = 'ok' | 'unhealthy' | 'down';

/** `down`: nothing answers. `unhealthy`: something listens but is not ready (e.g. Redis unreachable). */
export async function probeHealth(baseUrl: string, timeoutMs = 2000): Promise<Health> {
  try {
    const response = await fetch(`${baseUrl.replace(/\/+$/, '')}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.ok ? 'ok' : 'unhealthy';
  } catch {
    return 'down';
  }
}
