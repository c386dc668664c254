/** The API paths the client's calls are sent to, each id and name percent-encoded. */

export const jobPath = (id: string, tail = '') => `/v1/jobs/${encodeURIComponent(id)}${tail}`;

/**
 * An output's path in the URL, each segment percent-encoded. A `.` or `..` segment cannot be sent
 * as itself (URL parsers collapse it, even encoded), and a job's outputs never have one.
 */
export function outputPath(id: string, path: string): string {
  const segments = path.split('/');
  if (path === '' || segments.some((segment) => segment === '.' || segment === '..')) {
    throw new TypeError(`Not an output path: ${JSON.stringify(path.slice(0, 200))} (empty, or with a . or .. segment)`);
  }
  return jobPath(id, `/outputs/${segments.map(encodeURIComponent).join('/')}`);
}

/**
 * A checkpoint's download path. Its name is one path segment (a top-level entry of CHECKPOINT_DIR):
 * one with a `/`, or `.`/`..` (which URL parsers collapse), is no checkpoint's.
 */
export function checkpointDownloadPath(id: string, name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/')) {
    throw new TypeError(`Not a checkpoint name: ${JSON.stringify(name.slice(0, 200))}`);
  }
  return jobPath(id, `/checkpoints/${encodeURIComponent(name)}/download`);
}
