/** The S3 operations the transfer stages use: metadata and presigning only, never bodies. */
export interface TransferStorage {
  checkInput(uri: string): Promise<{ kind: 'object' | 'prefix'; objects: { key: string; size: number }[]; totalBytes: number }>;
  presignGet(bucket: string, key: string, expiresSeconds: number): Promise<string>;
  presignPut(bucket: string, key: string, expiresSeconds: number): Promise<string>;
  createMultipartUpload(bucket: string, key: string): Promise<string>;
  presignUploadPart(bucket: string, key: string, uploadId: string, partNumber: number, expiresSeconds: number): Promise<string>;
  completeMultipartUpload(bucket: string, key: string, uploadId: string, parts: { partNumber: number; etag: string }[]): Promise<unknown>;
  abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void>;
  listPrefix(bucket: string, prefix: string): Promise<{ key: string; size: number }[]>;
  putSmallObject(bucket: string, key: string, body: string): Promise<void>;
}
