/**
 * Counts the bytes a process moves over its sockets, so a test can prove that data did NOT pass
 * through a process (e.g. the orchestrator never downloads the training data itself).
 *
 * Use: start the child with `node --require <dist/socket-meter.js>` (resolve it with
 * `socketMeterPreloadPath()` or `require.resolve('@inno-train/test-kit/socket-meter')`) and the env
 * var INNO_SOCKET_METER_FILE=<file>; the file then holds {"bytesRead","bytesWritten","pid"}, rewritten
 * every 500 ms and at exit. Read it with `readSocketMeter(file)`.
 *
 * Every TCP and unix-socket stream is seen: client sockets through a wrapper around
 * net.Socket.prototype.connect (ssh2 calls `new Socket().connect()`, which the 'net.client.socket'
 * channel does not report) plus that channel, server-side sockets through 'net.server.socket'.
 * Child-process stdio pipes are not counted: they are not network traffic.
 *
 * This file is loaded into processes under test, so it uses Node built-ins only, and it is the one
 * module of the project allowed to read process.env (it has no other way to get its settings).
 */
import { subscribe } from 'node:diagnostics_channel';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';

export const SOCKET_METER_ENV = 'INNO_SOCKET_METER_FILE';

export interface SocketMeterReading {
  bytesRead: number;
  bytesWritten: number;
  pid: number;
}

interface MeterState {
  seen: WeakSet<Socket>;
  live: Set<Socket>;
  closedRead: number;
  closedWritten: number;
  reportingTo?: string;
}

/** On globalThis so that two copies of this module (preload and a bundled import) share one meter. */
const STATE_KEY = Symbol.for('inno-train.test-kit.socket-meter');

function state(): MeterState {
  const holder = globalThis as typeof globalThis & { [STATE_KEY]?: MeterState };
  let current = holder[STATE_KEY];
  if (!current) {
    current = { seen: new WeakSet(), live: new Set(), closedRead: 0, closedWritten: 0 };
    holder[STATE_KEY] = current;
    installHooks(current);
  }
  return current;
}

function track(meter: MeterState, socket: unknown): void {
  if (!(socket instanceof Socket) || meter.seen.has(socket)) return;
  meter.seen.add(socket);
  meter.live.add(socket);
  socket.once('close', () => {
    // Node keeps bytesRead/bytesWritten readable after the handle is gone.
    meter.closedRead += socket.bytesRead;
    meter.closedWritten += socket.bytesWritten;
    meter.live.delete(socket);
  });
}

function installHooks(meter: MeterState): void {
  const onChannel = (message: unknown) => track(meter, (message as { socket?: unknown } | null)?.socket);
  subscribe('net.client.socket', onChannel);
  subscribe('net.server.socket', onChannel);
  const originalConnect = Socket.prototype.connect;
  Socket.prototype.connect = function meteredConnect(this: Socket, ...args: unknown[]) {
    track(meter, this);
    return (originalConnect as (...a: unknown[]) => Socket).apply(this, args);
  } as typeof Socket.prototype.connect;
}

/** Starts counting in this process (idempotent); sockets opened before this are not seen. */
export function startSocketMeter(): void {
  state();
}

/** Starts counting in this process (idempotent) and returns the totals so far. */
export function socketMeterTotals(): SocketMeterReading {
  const meter = state();
  let bytesRead = meter.closedRead;
  let bytesWritten = meter.closedWritten;
  for (const socket of meter.live) {
    bytesRead += socket.bytesRead;
    bytesWritten += socket.bytesWritten;
  }
  return { bytesRead, bytesWritten, pid: process.pid };
}

function writeReading(file: string): void {
  // Write-then-rename: a reader never sees half a JSON document.
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(socketMeterTotals()));
  renameSync(temp, file);
}

/** Counts this process's socket bytes and keeps `file` up to date until the process ends. */
export function startSocketMeterReporting(file: string, intervalMs = 500): void {
  const meter = state();
  if (meter.reportingTo !== undefined) return;
  meter.reportingTo = file;
  const safeWrite = () => {
    try {
      writeReading(file);
    } catch {
      // A vanished directory must not crash the process under test.
    }
  };
  safeWrite();
  setInterval(safeWrite, intervalMs).unref();
  process.on('exit', safeWrite);
  for (const signalName of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signalName, () => {
      safeWrite();
      // Only re-raise when nobody else handles the signal, so the process still dies as it would have.
      if (process.listenerCount(signalName) === 0) process.kill(process.pid, signalName);
    });
  }
}

/** The last reading written to `file`, or undefined while none has been written yet. */
export function readSocketMeter(file: string): SocketMeterReading | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<SocketMeterReading>;
  if (typeof parsed.bytesRead !== 'number' || typeof parsed.bytesWritten !== 'number' || typeof parsed.pid !== 'number') {
    throw new Error(`${file} does not hold a socket meter reading: ${text.slice(0, 200)}`);
  }
  return { bytesRead: parsed.bytesRead, bytesWritten: parsed.bytesWritten, pid: parsed.pid };
}

/** Path of the compiled module, for `node --require`; the package must have been built. */
export function socketMeterPreloadPath(): string {
  return __filename.endsWith('.js') ? __filename : join(__dirname, '..', 'dist', 'socket-meter.js');
}

const reportFile = process.env[SOCKET_METER_ENV];
if (reportFile) startSocketMeterReporting(reportFile);
