/**
 * The SFTP subset a light host serves: what @inno-train/ssh-executor's atomic upload
 * (packages/ssh-executor/src/upload.ts) sends to a server that, like ssh2's, advertises no OpenSSH
 * extensions (so no fsync@ and no posix-rename@: the client skips the first and falls back to
 * REMOVE + RENAME for the second). That is OPEN (with CREAT/EXCL/TRUNC), WRITE, FSETSTAT and SETSTAT
 * (mode, times), CLOSE, REMOVE and RENAME. Anything else is answered OP_UNSUPPORTED by ssh2.
 *
 * Relative paths are under the instance's home, as with OpenSSH's sftp-server started there. The
 * server runs as root, so files it creates are handed to the instance's uid, as if the user had
 * written them.
 */
import { promises as fs } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { utils, type Attributes, type SFTPWrapper } from 'ssh2';

const { STATUS_CODE, OPEN_MODE } = utils.sftp;

export interface SftpContext {
  uid: number;
  home: string;
}

export function serveSftp(sftp: SFTPWrapper, context: SftpContext): void {
  const handles = new Map<number, fs.FileHandle>();
  let nextHandle = 1;
  let ended = false;
  const path = (p: string) => (isAbsolute(p) ? p : join(context.home, p));
  const handleOf = (raw: Buffer) => (raw.length === 4 ? handles.get(raw.readUInt32BE(0)) : undefined);
  const reply = (reqId: number, work: () => Promise<void>) =>
    work().then(
      () => sftp.status(reqId, STATUS_CODE.OK),
      (error: unknown) => sftp.status(reqId, statusOf(error), (error as Error).message),
    );

  sftp.on('OPEN', (reqId: number, filename: string, flags: number, attrs: Attributes) => {
    const mode = utils.sftp.flagsToString(flags);
    if (!mode) return sftp.status(reqId, STATUS_CODE.OP_UNSUPPORTED);
    const creates = (flags & OPEN_MODE.CREAT) !== 0;
    fs.open(path(filename), mode, attrs.mode ?? 0o644).then(
      async (file) => {
        // The client may end the session before its OPEN is answered.
        if (ended) return void (await file.close().catch(() => undefined));
        if (creates) await file.chown(context.uid, context.uid).catch(() => undefined);
        const id = nextHandle++;
        handles.set(id, file);
        const raw = Buffer.alloc(4);
        raw.writeUInt32BE(id, 0);
        sftp.handle(reqId, raw);
      },
      (error: unknown) => sftp.status(reqId, statusOf(error), (error as Error).message),
    );
  });
  sftp.on('WRITE', (reqId: number, raw: Buffer, offset: number, data: Buffer) =>
    reply(reqId, async () => {
      await mustHandle(handleOf(raw)).write(data, 0, data.length, offset);
    }),
  );
  sftp.on('FSETSTAT', (reqId: number, raw: Buffer, attrs: Attributes) => reply(reqId, () => applyAttrs(mustHandle(handleOf(raw)), attrs)));
  sftp.on('SETSTAT', (reqId: number, p: string, attrs: Attributes) =>
    reply(reqId, async () => {
      const file = await fs.open(path(p), 'r');
      await applyAttrs(file, attrs).finally(() => file.close());
    }),
  );
  sftp.on('CLOSE', (reqId: number, raw: Buffer) =>
    reply(reqId, async () => {
      const file = mustHandle(handleOf(raw));
      handles.delete(raw.readUInt32BE(0));
      await file.close();
    }),
  );
  sftp.on('REMOVE', (reqId: number, p: string) => reply(reqId, () => fs.unlink(path(p))));
  sftp.on('RENAME', (reqId: number, from: string, to: string) => reply(reqId, () => renameNoReplace(path(from), path(to))));
  const closeAll = () => {
    ended = true;
    for (const file of handles.values()) void file.close().catch(() => undefined);
    handles.clear();
  };
  sftp.on('end', closeAll);
  sftp.on('close', closeAll);
}

function mustHandle(file: fs.FileHandle | undefined): fs.FileHandle {
  if (!file) throw Object.assign(new Error('invalid handle'), { code: 'EBADF' });
  return file;
}

async function applyAttrs(file: fs.FileHandle, attrs: Attributes): Promise<void> {
  if (attrs.mode !== undefined) await file.chmod(attrs.mode & 0o7777);
  if (attrs.atime !== undefined && attrs.mtime !== undefined) await file.utimes(attrs.atime, attrs.mtime);
}

/** SFTP v3 RENAME does not replace an existing file (the client removes it first when it wants that). */
async function renameNoReplace(from: string, to: string): Promise<void> {
  const exists = await fs.lstat(to).then(
    () => true,
    () => false,
  );
  if (exists) throw Object.assign(new Error(`${to} exists`), { code: 'EEXIST' });
  await fs.rename(from, to);
}

function statusOf(error: unknown): number {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return STATUS_CODE.NO_SUCH_FILE;
    case 'EACCES':
    case 'EPERM':
      return STATUS_CODE.PERMISSION_DENIED;
    default:
      return STATUS_CODE.FAILURE;
  }
}
