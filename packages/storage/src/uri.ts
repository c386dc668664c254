/**
 * `s3://bucket/key` parsing. URIs come from API clients, and their keys later become paths on the
 * GPU host, so anything that could escape a directory or confuse a shell or log line is rejected
 * here, once, with a message that says what is wrong.
 */
import { InnoError } from '@inno-train/core';

export interface S3Location {
  bucket: string;
  /** The object key, or the prefix (ending in `/`, or '' for the whole bucket). */
  key: string;
  /** True when the URI names every object under a prefix rather than one object. */
  isPrefix: boolean;
}

const SCHEME = 's3://';
/** S3's limit on a key, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;
// C0 controls, DEL and C1 controls: invisible in logs, and newlines would split host-side records.
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

function invalid(uri: string, reason: string): InnoError {
  return new InnoError('invalid_s3_uri', `Invalid S3 URI ${JSON.stringify(uri)}: ${reason}`, { details: { uri } });
}

/** Returns why `bucket` breaks S3's bucket naming rules, or null when it is valid. */
export function bucketNameProblem(bucket: string): string | null {
  if (bucket.length < 3 || bucket.length > 63) return 'bucket names have 3 to 63 characters';
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(bucket)) {
    return 'bucket names use lowercase letters, digits, dots and hyphens, and start and end with a letter or digit';
  }
  if (/\.\.|\.-|-\./.test(bucket)) return 'each dot-separated label of a bucket name starts and ends with a letter or digit';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(bucket)) return 'bucket names cannot look like an IP address';
  if (/^(xn--|sthree-)/.test(bucket) || /(-s3alias|--ol-s3|--x-s3)$/.test(bucket)) {
    return 'bucket name uses a prefix or suffix reserved by S3';
  }
  return null;
}

/** Returns why `key` cannot be used (as an object key or prefix), or null when it is fine. */
export function keyProblem(key: string): string | null {
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return `keys are at most ${MAX_KEY_BYTES} bytes`;
  if (CONTROL_CHARS.test(key)) return 'keys cannot contain control characters';
  if (key.startsWith('/')) return 'the key cannot start with "/" (two slashes after the bucket)';
  const segments = key.endsWith('/') ? key.slice(0, -1).split('/') : key.split('/');
  if (key !== '' && segments.some((segment) => segment === '')) return 'keys cannot contain empty path segments ("//")';
  if (segments.some((segment) => segment === '.' || segment === '..')) {
    return 'keys cannot contain "." or ".." path segments';
  }
  return null;
}

/**
 * Parses `s3://bucket/key` (one object) or `s3://bucket/prefix/` (every object under the prefix;
 * `s3://bucket/` and `s3://bucket` mean the whole bucket). The key is taken literally: S3 URIs are
 * not percent-encoded. Throws InnoError `invalid_s3_uri`.
 */
export function parseS3Uri(uri: string): S3Location {
  if (typeof uri !== 'string') throw invalid(String(uri), 'expected a string');
  if (!uri.startsWith(SCHEME)) throw invalid(uri, 'it must start with "s3://"');
  const rest = uri.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const key = slash === -1 ? '' : rest.slice(slash + 1);
  if (bucket === '') throw invalid(uri, 'the bucket name is missing');
  const bucketProblem = bucketNameProblem(bucket);
  if (bucketProblem) throw invalid(uri, bucketProblem);
  const problem = keyProblem(key);
  if (problem) throw invalid(uri, problem);
  return { bucket, key, isPrefix: key === '' || key.endsWith('/') };
}

/** Like parseS3Uri, but the URI must name one object (used for single-object outputs, config files). */
export function parseS3ObjectUri(uri: string): S3Location {
  const location = parseS3Uri(uri);
  if (location.isPrefix) throw invalid(uri, 'it must name an object, not a prefix (no trailing "/")');
  return location;
}

export function formatS3Uri(bucket: string, key: string): string {
  return `${SCHEME}${bucket}/${key}`;
}
