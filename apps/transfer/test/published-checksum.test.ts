/**
 * What the host checks a download against (publishedChecksum, singlePartMd5): the MD5 a single-part
 * ETag is, else S3's SHA-256 when it is asked for or listed, else only the size; with a fake storage
 * that counts the objectSha256 calls.
 */
import type { S3ObjectInfo } from '@inno-train/storage';
import { publishedChecksum, singlePartMd5 } from '../src/stage-in';

const MD5 = '0123456789abcdef0123456789abcdef';
const SHA256 = 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=';

function fakeStorage(answer: string | null = SHA256) {
  const asked: { bucket: string; key: string }[] = [];
  const storage = {
    objectSha256: (bucket: string, key: string): Promise<string | null> => {
      asked.push({ bucket, key });
      return Promise.resolve(answer);
    },
  };
  return { storage, asked };
}

const object = (fields: Partial<S3ObjectInfo> = {}): S3ObjectInfo => ({ key: 'data/a.bin', size: 10, ...fields });

describe('singlePartMd5', () => {
  it('is the lowercase MD5 a single-part ETag is, quoted or not, in any case', () => {
    expect(singlePartMd5(`"${MD5}"`)).toBe(MD5);
    expect(singlePartMd5(MD5)).toBe(MD5);
    expect(singlePartMd5(`"${MD5.toUpperCase()}"`)).toBe(MD5);
  });

  it('is null for a multipart ETag, anything that is not 32 hex digits, and no ETag', () => {
    expect(singlePartMd5(`"${MD5}-3"`)).toBeNull();
    expect(singlePartMd5(`"${MD5.slice(1)}"`)).toBeNull();
    expect(singlePartMd5(`"${MD5}0"`)).toBeNull();
    expect(singlePartMd5(`"${MD5.slice(1)}g"`)).toBeNull();
    expect(singlePartMd5(`W/"${MD5}"`)).toBeNull();
    expect(singlePartMd5('')).toBeNull();
    expect(singlePartMd5(undefined)).toBeNull();
  });
});

describe('publishedChecksum', () => {
  it('takes the MD5 of a single-part ETag without asking S3, and passes the ETag on', async () => {
    const { storage, asked } = fakeStorage();
    expect(await publishedChecksum(storage, 'b', object({ etag: `"${MD5}"` }), true)).toEqual({ md5: MD5, etag: `"${MD5}"` });
    const upper = `"${MD5.toUpperCase()}"`;
    expect(await publishedChecksum(storage, 'b', object({ etag: upper, checksumAlgorithms: ['SHA256'] }), false)).toEqual({
      md5: MD5,
      etag: upper,
    });
    expect(asked).toEqual([]);
  });

  it('checks only the size of a multipart object that nobody asked about and that lists no SHA-256', async () => {
    const { storage, asked } = fakeStorage();
    const etag = `"${MD5}-3"`;
    expect(await publishedChecksum(storage, 'b', object({ etag }), false)).toEqual({ etag });
    expect(await publishedChecksum(storage, 'b', object({ etag, checksumAlgorithms: ['CRC32'] }), false)).toEqual({ etag });
    expect(asked).toEqual([]);
  });

  it('asks S3 for the SHA-256 of a multipart object when told to, or when its listing names SHA256', async () => {
    const { storage, asked } = fakeStorage();
    const etag = `"${MD5}-3"`;
    expect(await publishedChecksum(storage, 'in', object({ etag }), true)).toEqual({ sha256: SHA256, etag });
    expect(await publishedChecksum(storage, 'in', object({ key: 'x/y', etag, checksumAlgorithms: ['CRC32', 'SHA256'] }), false)).toEqual({
      sha256: SHA256,
      etag,
    });
    expect(asked).toEqual([
      { bucket: 'in', key: 'data/a.bin' },
      { bucket: 'in', key: 'x/y' },
    ]);
  });

  it('checks only the size when S3 has no SHA-256 for an object it was asked about', async () => {
    const { storage, asked } = fakeStorage(null);
    expect(await publishedChecksum(storage, 'b', object({ etag: `"${MD5}-2"` }), true)).toEqual({ etag: `"${MD5}-2"` });
    expect(asked).toHaveLength(1);
  });

  it('handles an object listed without an ETag: no etag key, SHA-256 only when asked', async () => {
    const { storage, asked } = fakeStorage();
    const none = await publishedChecksum(storage, 'b', object(), false);
    expect(none).toEqual({});
    expect('etag' in none).toBe(false);
    expect(await publishedChecksum(storage, 'b', object(), true)).toEqual({ sha256: SHA256 });
    expect(asked).toHaveLength(1);
  });
});
