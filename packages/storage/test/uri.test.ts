import { InnoError } from '@inno-train/core';
import { formatS3Uri, parseS3ObjectUri, parseS3Uri } from '../src';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof InnoError ? err.code : 'not-an-InnoError';
  }
  return undefined;
}

describe('parseS3Uri', () => {
  it('parses objects, prefixes and whole buckets', () => {
    expect(parseS3Uri('s3://my-bucket/data/train.jsonl')).toEqual({ bucket: 'my-bucket', key: 'data/train.jsonl', isPrefix: false });
    expect(parseS3Uri('s3://my.bucket.1/data/train/')).toEqual({ bucket: 'my.bucket.1', key: 'data/train/', isPrefix: true });
    expect(parseS3Uri('s3://abc/')).toEqual({ bucket: 'abc', key: '', isPrefix: true });
    expect(parseS3Uri('s3://abc')).toEqual({ bucket: 'abc', key: '', isPrefix: true });
  });

  it('keeps unusual but legal key characters literally', () => {
    const key = "dir with space/it's $(x) ü?#%20.txt";
    expect(parseS3Uri(`s3://bkt/${key}`).key).toBe(key);
    expect(formatS3Uri('bkt', key)).toBe(`s3://bkt/${key}`);
  });

  it.each([
    ['', 'missing scheme'],
    ['https://bucket/key', 'wrong scheme'],
    ['s3:///key', 'empty bucket'],
    ['s3://ab/key', 'bucket too short'],
    [`s3://${'a'.repeat(64)}/key`, 'bucket too long'],
    ['s3://My-Bucket/key', 'uppercase bucket'],
    ['s3://-bucket/key', 'bucket starting with hyphen'],
    ['s3://bucket-/key', 'bucket ending with hyphen'],
    ['s3://bu..cket/key', 'adjacent dots'],
    ['s3://bu_cket/key', 'underscore'],
    ['s3://192.168.1.1/key', 'IP address bucket'],
    ['s3://xn--bucket/key', 'reserved prefix'],
    ['s3://bucket/../etc/passwd', 'leading .. segment'],
    ['s3://bucket/a/../b', 'inner .. segment'],
    ['s3://bucket/a/..', 'trailing .. segment'],
    ['s3://bucket/a/../', 'trailing .. prefix'],
    ['s3://bucket/./a', '. segment'],
    ['s3://bucket//a', 'key starting with /'],
    ['s3://bucket/a//b', 'empty segment'],
    ['s3://bucket/a\nb', 'newline'],
    ['s3://bucket/a\u0000b', 'NUL'],
    ['s3://bucket/a\u007fb', 'DEL'],
    ['s3://bucket/a\u0085b', 'C1 control'],
    [`s3://bucket/${'k'.repeat(1025)}`, 'key too long'],
  ])('rejects %j (%s) with invalid_s3_uri', (uri) => {
    expect(codeOf(() => parseS3Uri(uri))).toBe('invalid_s3_uri');
  });

  it('says what is wrong', () => {
    expect(() => parseS3Uri('s3://bucket/a/../b')).toThrow(/"\." or "\.\." path segments/);
    expect(() => parseS3Uri('s3://Bucket/a')).toThrow(/lowercase/);
  });

  it('parseS3ObjectUri refuses prefixes', () => {
    expect(parseS3ObjectUri('s3://bucket/a/config.yaml').key).toBe('a/config.yaml');
    expect(codeOf(() => parseS3ObjectUri('s3://bucket/a/'))).toBe('invalid_s3_uri');
    expect(codeOf(() => parseS3ObjectUri('s3://bucket'))).toBe('invalid_s3_uri');
  });
});
