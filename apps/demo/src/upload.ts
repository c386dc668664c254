import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3Settings } from './settings';

export const DATA_PREFIX = 'demo/data/';
export const DATASET_FILES = ['train.csv', 'eval.csv'] as const;

export function createS3Client(s3: S3Settings): S3Client {
  return new S3Client({
    region: s3.region,
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    forcePathStyle: s3.forcePathStyle,
    ...(s3.accessKeyId && s3.secretAccessKey ? { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } } : {}),
    // S3-compatible servers (the embedded one, MinIO) reject the SDK's newer default checksums.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export interface UploadedDataset {
  train: string;
  eval: string;
  bytes: number;
}

/** Puts the bundled CSVs under `s3://<bucket>/demo/data/`; the job's inputs point there. */
export async function uploadDataset(s3: S3Settings, assetsDir: string): Promise<UploadedDataset> {
  const client = createS3Client(s3);
  let bytes = 0;
  const put = async (name: (typeof DATASET_FILES)[number]) => {
    const body = readFileSync(join(assetsDir, name));
    const key = `${DATA_PREFIX}${name}`;
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body, ContentType: 'text/csv' }));
    bytes += body.length;
    return `s3://${s3.bucket}/${key}`;
  };
  try {
    const train = await put('train.csv');
    const evalUri = await put('eval.csv');
    return { train, eval: evalUri, bytes };
  } finally {
    client.destroy();
  }
}
