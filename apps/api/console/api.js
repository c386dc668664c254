/**
 * The console's data: /v1's job routes under /console/api, authenticated by the session cookie (an
 * EventSource cannot send a bearer key). Every call goes to this origin only.
 */
const BASE = '/console/api';

/** The header the API requires on the console's one write (cancel): other sites cannot set it. */
const CONSOLE_REQUEST_HEADER = 'X-Inno-Console';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not the API's JSON error body (a proxy's page): the status alone says enough.
  }
  const code = body?.error?.code ?? 'http_' + response.status;
  return new ApiError(response.status, code, body?.error?.message ?? response.statusText);
}

/** A session that ended (logout elsewhere, expiry) sends the browser back to the login page. */
function leaveIfLoggedOut(response) {
  if (response.status === 401) window.location.assign('/console/login');
}

export async function getJson(path) {
  const response = await fetch(BASE + path, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
  leaveIfLoggedOut(response);
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

export async function cancelJob(jobId) {
  const response = await fetch(`${BASE}/jobs/${encodeURIComponent(jobId)}/cancel`, {
    method: 'POST',
    headers: { accept: 'application/json', [CONSOLE_REQUEST_HEADER]: '1' },
    credentials: 'same-origin',
  });
  leaveIfLoggedOut(response);
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

export const jobPath = (jobId) => `/jobs/${encodeURIComponent(jobId)}`;

export const streamUrl = (jobId) => `${BASE}${jobPath(jobId)}/stream`;

/** A checkpoint's files, each with a short-lived S3 link (`{name, kind, files: [{path, size, url}], expiresAt}`). */
export const checkpointDownloadPath = (jobId, name) => `${jobPath(jobId)}/checkpoints/${encodeURIComponent(name)}/download`;

/** The download link of an output: the API answers it with a redirect to a short-lived S3 link. */
export const outputUrl = (jobId, path) => `${BASE}${jobPath(jobId)}/outputs/${path.split('/').map(encodeURIComponent).join('/')}`;
