/**
 * The stage-in round trip: a plain HTTP server plays the presigned URLs (the host shares the
 * machine's network), the stage-in script fetches the planned files on the host, and python lists
 * what landed under inputs/ with sizes and checksums (names may hold anything).
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { shellQuote } from '@inno-train/ssh-executor';
import { canaryCheck, type HostUnderTest } from './host-probes';

/** Prints {relPath: [size, sha256]} for every file under inputs/ (paths as UTF-8, names may hold anything). */
export const LIST_FILES_PY = String.raw`
import hashlib, json, os
out = {}
for root, dirs, files in os.walk(b'inputs'):
    for name in files:
        path = os.path.join(root, name)
        with open(path, 'rb') as f:
            data = f.read()
        out[path.decode('utf-8')] = [len(data), hashlib.sha256(data).hexdigest()]
print(json.dumps(out))
`;

export interface FileServer {
  port: number;
  /** Bodies by URL path; any other path is answered 404. */
  bodies: Map<string, Buffer>;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 and a free port that serves `bodies`. */
export async function startFileServer(): Promise<FileServer> {
  const bodies = new Map<string, Buffer>();
  const server = createServer((req, res) => {
    const body = bodies.get(req.url ?? '');
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { port, bodies, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A path that is also the directory of another cannot be planned; keep the leaves only. */
export function leavesOnly(relPaths: string[]): string[] {
  return relPaths.filter((path) => !relPaths.some((other) => other.startsWith(`${path}/`)));
}

export interface PlannedFile {
  relPath: string;
  url: string;
  size: number;
  body: Buffer;
}

/** One served file per path, of the given sizes (10 bytes where none is given), with content of its own. */
export function planFiles(server: FileServer, id: string, relPaths: string[], sizes: number[]): PlannedFile[] {
  return relPaths.map((relPath, index) => {
    const body = Buffer.from(
      createHash('sha256')
        .update(`${id}/${index}`)
        .digest('hex')
        .repeat(50)
        .slice(0, sizes[index] ?? 10),
    );
    server.bodies.set(`/${id}/${index}`, body);
    return { relPath, url: `http://127.0.0.1:${server.port}/${id}/${index}`, size: body.length, body };
  });
}

/** Runs the stage-in `script` in the job directory `dir` and lists what landed; fails when the script failed. */
export async function runStageIn(
  h: HostUnderTest,
  lane: number,
  dir: string,
  script: string,
): Promise<{ found: Record<string, [number, string]>; canaries: string }> {
  await h.ssh.exec(h.target, `mkdir -p ${shellQuote(`${dir}/.inno`)}`);
  await h.ssh.upload(h.target, `${dir}/.inno/stage-in.sh`, script);
  const run = await h.ssh.exec(h.target, `bash ${shellQuote(`${dir}/.inno/stage-in.sh`)}`);
  if (run.exitCode !== 0) throw new Error(`stage-in failed: ${JSON.stringify(run)}`);
  // Every file under inputs/ with its size and checksum, listed by python (names may hold anything).
  const listing = await h.ssh.exec(
    h.target,
    `cd ${shellQuote(dir)} && python3 -c ${shellQuote(LIST_FILES_PY)}; cd ~ && rm -rf ${shellQuote(dir)}; ${canaryCheck(lane)}`,
  );
  const [json, ...rest] = listing.stdout.split('\n');
  return { found: JSON.parse(json ?? '{}') as Record<string, [number, string]>, canaries: rest.join('\n') };
}

/** The listing runStageIn must find: every planned file at its path, with its size and checksum. */
export function expectedListing(plan: PlannedFile[]): Record<string, [number, string]> {
  return Object.fromEntries(plan.map(({ relPath, body }) => [relPath, [body.length, createHash('sha256').update(body).digest('hex')]]));
}
