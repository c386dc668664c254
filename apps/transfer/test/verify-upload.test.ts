/**
 * uploadProblem: whether S3 holds an output as the host sent it, table-tested without S3. The
 * multipart ETags are computed here the way AWS does, from real part bytes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { uploadProblem } from '../src/verify-upload';

const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex');

/** What AWS answers for a multipart upload of `parts`: each part's ETag, and the object's. */
function awsMultipart(parts: Buffer[]): { partEtags: { partNumber: number; etag: string }[]; objectEtag: string } {
  const partMd5s = parts.map(md5);
  const whole = createHash('md5')
    .update(Buffer.concat(partMd5s.map((hex) => Buffer.from(hex, 'hex'))))
    .digest('hex');
  return {
    partEtags: partMd5s.map((hex, i) => ({ partNumber: i + 1, etag: `"${hex}"` })),
    objectEtag: `"${whole}-${parts.length}"`,
  };
}

// Small parts keep the test fast: the part size only has to be the plan's.
const PART = 1024;
const bytes = randomBytes(3 * PART - 100);
const parts = [bytes.subarray(0, PART), bytes.subarray(PART, 2 * PART), bytes.subarray(2 * PART)];
const planned = { size: bytes.length, uploadId: 'upload-1', partSize: PART };
const sent = awsMultipart(parts);

describe('uploadProblem', () => {
  it('says an object that is not in S3 is not there', () => {
    expect(uploadProblem({ size: 10 }, undefined)).toBe('not in S3');
    expect(uploadProblem(planned, undefined, sent.partEtags)).toBe('not in S3');
  });

  it('says when S3 holds another size, single PUT or multipart', () => {
    expect(uploadProblem({ size: 10 }, { size: 9, etag: `"${md5(Buffer.alloc(9))}"` })).toBe('9 bytes in S3, expected 10');
    expect(uploadProblem(planned, { size: bytes.length + 1, etag: sent.objectEtag }, sent.partEtags)).toBe(
      `${bytes.length + 1} bytes in S3, expected ${bytes.length}`,
    );
  });

  it('takes a single PUT of the right size whatever its ETag', () => {
    expect(uploadProblem({ size: 10 }, { size: 10 })).toBeNull();
    expect(uploadProblem({ size: 10 }, { size: 10, etag: '"00000000000000000000000000000000"' })).toBeNull();
    expect(uploadProblem({ size: 10 }, { size: 10, etag: '"ffffffffffffffffffffffffffffffff-3"' })).toBeNull();
    expect(uploadProblem({ size: 0 }, { size: 0, etag: 'not an etag' })).toBeNull();
  });

  it('takes a multipart object whose ETag is that of the parts the host sent', () => {
    expect(uploadProblem(planned, { size: bytes.length, etag: sent.objectEtag }, sent.partEtags)).toBeNull();
    // Without quotes, and in upper case, as some listings spell it.
    expect(uploadProblem(planned, { size: bytes.length, etag: sent.objectEtag.replace(/"/g, '') }, sent.partEtags)).toBeNull();
    const upper = sent.partEtags.map((part) => ({ ...part, etag: part.etag.toUpperCase() }));
    expect(uploadProblem(planned, { size: bytes.length, etag: sent.objectEtag.toUpperCase() }, upper)).toBeNull();
  });

  it('says when S3 counts another number of parts than the plan', () => {
    const two = awsMultipart([bytes.subarray(0, 2 * PART), bytes.subarray(2 * PART)]);
    expect(uploadProblem(planned, { size: bytes.length, etag: two.objectEtag }, two.partEtags)).toBe(
      "S3's ETag counts 2 parts, expected 3",
    );
    // The plan's part size decides the count (1 KiB parts of ~3 KiB: 3).
    expect(uploadProblem({ ...planned, partSize: 2 * PART }, { size: bytes.length, etag: sent.objectEtag }, sent.partEtags)).toBe(
      "S3's ETag counts 3 parts, expected 2",
    );
  });

  it('says when the count is right but the ETag is not that of the parts the host sent', () => {
    const other = Buffer.from(parts[1]!);
    other[0] = other[0]! ^ 0xff;
    const changed = awsMultipart([parts[0]!, other, parts[2]!]);
    expect(uploadProblem(planned, { size: bytes.length, etag: changed.objectEtag }, sent.partEtags)).toBe(
      "S3's ETag is not that of the parts the host sent",
    );
    expect(uploadProblem(planned, { size: bytes.length, etag: sent.objectEtag }, changed.partEtags)).toBe(
      "S3's ETag is not that of the parts the host sent",
    );
  });

  it('checks only the size of a multipart object with a plain ETag (s3rver answers the MD5 of the whole)', () => {
    expect(uploadProblem(planned, { size: bytes.length, etag: `"${md5(bytes)}"` }, sent.partEtags)).toBeNull();
    expect(uploadProblem(planned, { size: bytes.length }, sent.partEtags)).toBeNull();
  });

  it('checks only the part count when the parts the host reports are not MD5s (KMS-like), or not all of them', () => {
    const kms = sent.partEtags.map((part, i) => ({ ...part, etag: `"kms-${i}-not-an-md5"` }));
    expect(uploadProblem(planned, { size: bytes.length, etag: sent.objectEtag }, kms)).toBeNull();
    expect(uploadProblem(planned, { size: bytes.length, etag: sent.objectEtag }, undefined)).toBeNull();
    expect(uploadProblem(planned, { size: bytes.length, etag: sent.objectEtag }, sent.partEtags.slice(0, 2))).toBeNull();
    // The count is still checked.
    const two = awsMultipart([bytes.subarray(0, 2 * PART), bytes.subarray(2 * PART)]);
    expect(uploadProblem(planned, { size: bytes.length, etag: two.objectEtag }, kms)).toBe("S3's ETag counts 2 parts, expected 3");
  });

  it('counts 8 MiB parts when the plan names no part size', () => {
    const size = 20 * 1024 * 1024;
    expect(uploadProblem({ size, uploadId: 'u' }, { size, etag: '"0123456789abcdef0123456789abcdef-3"' })).toBeNull();
    expect(uploadProblem({ size, uploadId: 'u' }, { size, etag: '"0123456789abcdef0123456789abcdef-2"' })).toBe(
      "S3's ETag counts 2 parts, expected 3",
    );
  });
});
