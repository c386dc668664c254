import type { S3ObjectInfo } from '@inno-train/storage';
/** The S3 operations the transfer stages use: metadata and presigning only, never bodies. */
export interface TransferStorage {
  checkInput(uri: string): Promise<{ kind: 'object' | 'prefix'; objects: S3ObjectInfo[]; totalBytes: number }>;
  /** Size, ETag and encryption of one object (null: none). */
  headObject(bucket: string, key: string): Promise<{ size: number; etag: string; encryption?: string } | null>;
  /** The full-object SHA-256 S3 publishes for the object, or null. */
  objectSha256(bucket: string, key: string): Promise<string | null>;
  presignGet(bucket: string, key: string, expiresSeconds: number): Promise<string>;
  presignPut(bucket: string, key: string, expiresSeconds: number): Promise<string>;
  createMultipartUpload(bucket: string, key: string): Promise<string>;
  presignUploadPart(bucket: string, key: string, uploadId: string, partNumber: number, expiresSeconds: number): Promise<string>;
  completeMultipartUpload(bucket: string, key: string, uploadId: string, parts: { partNumber: number; etag: string }[]): Promise<unknown>;
  abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void>;
  listPrefix(bucket: string, prefix: string): Promise<S3ObjectInfo[]>;
  putSmallObject(bucket: string, key: string, body: string): Promise<void>;
}
