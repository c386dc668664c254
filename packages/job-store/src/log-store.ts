/**
 * A job's stored log: the last maxLogBytes of everything it printed, a counter of every byte, and
 * per host how far its train.log has been stored (appendLogAt), so readers of the host never store
 * a byte twice or skip one.
 */
import type { Redis } from 'ioredis';
import { storeKeys } from './keys';
import { APPEND_LOG_AT_SCRIPT, LOG_FROM_SCRIPT, SEED_LOG_OFFSET_SCRIPT } from './log-script';
import { publishJobChange } from './notify';
import { APPEND_LOG_SCRIPT } from './scripts';

export function createLogStore(redis: Redis, namespace: string, maxLogBytes: number) {
  const keys = storeKeys(namespace);

  async function appendLog(id: string, chunk: string): Promise<void> {
    if (chunk.length === 0) return;
    await redis.eval(APPEND_LOG_SCRIPT, 2, keys.log(id), keys.logSize(id), chunk, String(maxLogBytes));
    publishJobChange(redis, namespace, id, 'log');
  }

  /**
   * Appends `text`, the host log's bytes [from, from + consumed) of instance `instanceId`, only if
   * that host's log was stored up to exactly `from` (log-script.ts). Refused: nothing changed, and
   * `offset` says where the stored log of that host ends, to read on from there.
   */
  async function appendLogAt(
    id: string,
    instanceId: string,
    from: number,
    consumed: number,
    text: string,
  ): Promise<{ appended: boolean; offset: number }> {
    if (!Number.isSafeInteger(from) || from < 0 || !Number.isSafeInteger(consumed) || consumed < 0)
      throw new RangeError(`appendLogAt needs whole byte counts, got from=${from} consumed=${consumed}`);
    const [appended, offset] = (await redis.eval(
      APPEND_LOG_AT_SCRIPT,
      3,
      keys.log(id),
      keys.logSize(id),
      keys.logOffsets(id),
      instanceId,
      text,
      String(maxLogBytes),
      String(from),
      String(consumed),
    )) as [number, number];
    if (appended === 1 && text.length > 0) publishJobChange(redis, namespace, id, 'log');
    return { appended: appended === 1, offset: Number(offset) };
  }

  /** Where the stored log of the job's host `instanceId` ends in that host's train.log (0: nothing yet). */
  async function logOffset(id: string, instanceId: string): Promise<number> {
    return (await logOffsetIfSet(id, instanceId)) ?? 0;
  }

  /** As logOffset, but null while no append or seed has set it. */
  async function logOffsetIfSet(id: string, instanceId: string): Promise<number | null> {
    const raw = await redis.hget(keys.logOffsets(id), instanceId);
    return raw === null ? null : Number(raw);
  }

  /** Sets the host's log offset to `offset` unless it is set; returns the stored one (log-script.ts). */
  async function seedLogOffset(id: string, instanceId: string, offset: number): Promise<number> {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`seedLogOffset needs a whole byte count, got ${offset}`);
    return Number(await redis.eval(SEED_LOG_OFFSET_SCRIPT, 1, keys.logOffsets(id), instanceId, String(offset)));
  }

  async function log(id: string): Promise<string> {
    return (await redis.get(keys.log(id))) ?? '';
  }

  /**
   * The output from byte `offset` of everything the job printed. The store keeps the last
   * maxLogBytes only: `start` says where the answer really begins (later than `offset` when the
   * bytes asked for were cut), `truncated` whether anything before it was cut.
   */
  async function logFrom(
    id: string,
    offset: number,
    maxBytes = 0,
  ): Promise<{ text: Buffer; start: number; size: number; truncated: boolean }> {
    const answer = (await redis.callBuffer(
      'EVAL',
      LOG_FROM_SCRIPT,
      2,
      keys.log(id),
      keys.logSize(id),
      String(offset),
      String(maxBytes),
    )) as [Buffer, number, number, number];
    const [text, start, size, truncated] = answer;
    return { text, start: Number(start), size: Number(size), truncated: Number(truncated) === 1 };
  }

  return { appendLog, appendLogAt, logOffset, logOffsetIfSet, seedLogOffset, log, logFrom };
}
