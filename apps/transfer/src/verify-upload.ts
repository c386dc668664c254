/**
 * Whether an output is in S3 as it was sent: a pure function of what S3 lists for its key and what
 * the host reported, table-tested without S3.
 */
import { createHash } from 'node:crypto';
import { partCount } from '@inno-train/host-protocol';
import { TRANSFER } from '@inno-train/workflow-constants';

export interface PlannedObject {
  size: number;
  /** Set for a multipart upload. */
  uploadId?: string;
  partSize?: number;
}

export interface StoredObject {
  size: number;
  etag?: string;
}

const MD5_HEX = /^[0-9a-f]{32}$/;

/**
 * What is wrong with the object S3 holds for an upload, or null. Always its size. For a multipart
 * upload, S3's ETag is `<MD5 of the parts' MD5s>-<parts>`: the count must be the plan's, and when the
 * parts' ETags were MD5s the whole must be theirs, which ties the object to the exact parts the host
 * sent and checked. A plain ETag on a multipart object (S3-compatible servers that do not follow
 * AWS here) leaves the size alone to check.
 */
export function uploadProblem(
  planned: PlannedObject,
  stored: StoredObject | undefined,
  parts?: { partNumber: number; etag: string }[],
): string | null {
  if (!stored) return 'not in S3';
  if (stored.size !== planned.size) return `${stored.size} bytes in S3, expected ${planned.size}`;
  if (!planned.uploadId) return null;
  const match = /^"?([0-9a-f]{32})-(\d+)"?$/i.exec(stored.etag ?? '');
  if (!match) return null;
  const expected = partCount(planned.size, planned.partSize ?? TRANSFER.partSizeBytes);
  if (Number(match[2]) !== expected) return `S3's ETag counts ${match[2]} parts, expected ${expected}`;
  const md5s = (parts ?? []).map((part) => part.etag.replace(/"/g, '').toLowerCase());
  if (md5s.length !== expected || !md5s.every((md5) => MD5_HEX.test(md5))) return null;
  const whole = createHash('md5')
    .update(Buffer.concat(md5s.map((md5) => Buffer.from(md5, 'hex'))))
    .digest('hex');
  return whole === match[1]!.toLowerCase() ? null : "S3's ETag is not that of the parts the host sent";
}
