/**
 * A light host server (light-host.ts) in a child process of its own, behind the same
 * LightHostServer interface. At a thousand instances the server's work — ssh2's crypto for every
 * connection, and a `bash` spawned per command (a fork of the whole Node process: the bigger the
 * process, the longer it blocks its event loop) — must not share the event loop of a benchmark
 * that measures latencies, nor its heap. Measured with bench:scale (issue 16).
 *
 * The hosts handed out mirror the child's: the synchronous getters (isAlive, log,
 * acceptedSessions) read what the child last reported, which it reports as it happens.
 */
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chaosControls } from './chaos';
import type { LightHostServer } from './light-host';
import type { SshHost, StartSshHostOptions } from './ssh-host';

/** What the parent asks: each is answered by a `reply` with its id. */
type Request = { type: 'start'; key: number; options: StartSshHostOptions } | { type: 'kill' | 'pause' | 'resume'; key: number };

/** `close` is answered by the child's exit. */
export type ParentMessage = (Request & { id: number }) | { type: 'close'; id: number };

export interface StartReply {
  hostKeyFingerprint: string;
  accepted: number;
  log: string;
}

export type ChildMessage =
  | { type: 'ready'; pid: number }
  | { type: 'reply'; id: number; reply?: StartReply | undefined; error?: string }
  | { type: 'activity'; key: number; accepted: number; log: string }
  | { type: 'exited'; key: number };

/** The child's script: beside this file once built; from src (ts-jest), the built one. */
function childScript(): string {
  const beside = join(__dirname, 'light-host-child.js');
  return existsSync(beside) ? beside : join(__dirname, '..', 'dist', 'light-host-child.js');
}

interface Mirror {
  alive: boolean;
  accepted: number;
  log: string;
  markExited: () => void;
}

export async function startLightHostProcess(): Promise<LightHostServer> {
  const child = fork(childScript(), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  const pending = new Map<number, { resolve: (value: StartReply | undefined) => void; reject: (error: Error) => void }>();
  const mirrors = new Map<number, Mirror>();
  let nextId = 1;
  let nextKey = 1;
  let gone: Error | undefined;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // The channel keeps this process alive only while it waits for an answer (like the in-process
  // server's listeners, a forgotten server must not keep jest alive).
  const channel = () => child.channel as { ref(): void; unref(): void } | undefined;

  const pid = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`The light host process exited before it was ready (${signal ?? code})`)));
    child.once('message', (message: ChildMessage) =>
      message.type === 'ready' ? resolve(message.pid) : reject(new Error(`Unexpected ${message.type}`)),
    );
  });
  child.on('message', (message: ChildMessage) => {
    if (message.type === 'reply') {
      const waiter = pending.get(message.id);
      pending.delete(message.id);
      if (pending.size === 0) channel()?.unref();
      if (message.error !== undefined) waiter?.reject(new Error(message.error));
      else waiter?.resolve(message.reply);
    } else if (message.type === 'activity') {
      const mirror = mirrors.get(message.key);
      if (mirror) Object.assign(mirror, { accepted: message.accepted, log: message.log });
    } else if (message.type === 'exited') {
      const mirror = mirrors.get(message.key);
      mirrors.delete(message.key);
      if (mirror) {
        mirror.alive = false;
        mirror.markExited();
      }
    }
  });
  child.unref();
  channel()?.unref();
  child.once('exit', (code, signal) => {
    gone = new Error(`The light host process exited (${signal ?? code})`);
    for (const waiter of pending.values()) waiter.reject(gone);
    pending.clear();
    // Its instances went with it (it kills them when it closes, and on its way out).
    for (const mirror of mirrors.values()) {
      mirror.alive = false;
      mirror.markExited();
    }
    mirrors.clear();
  });

  const ask = (request: Request) =>
    new Promise<StartReply | undefined>((resolve, reject) => {
      if (gone) return reject(gone);
      const id = nextId++;
      pending.set(id, { resolve, reject });
      channel()?.ref();
      child.send({ ...request, id } satisfies ParentMessage);
    });
  const control = (type: 'kill' | 'pause' | 'resume', key: number) => ask({ type, key }).then(() => undefined);

  return {
    async startHost(options) {
      if (options.chaos) throw new Error('Light hosts have no chaos hook; use startSshHost for chaos tests');
      const key = nextKey++;
      const port = options.port ?? 2222;
      const user = options.user ?? 'ubuntu';
      let markExited: () => void = () => undefined;
      const hostExited = new Promise<void>((resolve) => (markExited = resolve));
      const mirror: Mirror = { alive: true, accepted: 0, log: '', markExited };
      mirrors.set(key, mirror);
      let started: StartReply;
      try {
        started = (await ask({ type: 'start', key, options }))!;
      } catch (error) {
        mirrors.delete(key);
        throw error;
      }
      mirror.accepted = Math.max(mirror.accepted, started.accepted);
      mirror.log ||= started.log;
      const host: SshHost = {
        ip: options.ip,
        port,
        user,
        // The light host process's: it serves every instance. Never signal it.
        pid,
        hostKeyFingerprint: started.hostKeyFingerprint,
        kill: async () => {
          if (mirror.alive && !gone) await control('kill', key);
          await hostExited;
        },
        pause: () => control('pause', key),
        resume: () => control('resume', key),
        isAlive: () => mirror.alive,
        log: () => mirror.log,
        acceptedSessions: () => mirror.accepted,
        exited: hostExited,
        ...chaosControls(undefined, `${options.ip}:${port}`),
      };
      return host;
    },
    liveHosts: () => mirrors.size,
    async close() {
      // Its exit is awaited: both handles keep this process alive until then.
      child.ref();
      if (!gone) {
        channel()?.ref();
        child.send({ type: 'close', id: nextId++ } satisfies ParentMessage);
      }
      await exited;
    },
  };
}
