#!/bin/sh
# One-shot job of docker-compose.yml (service `minio-init`, image minio/mc): creates the bucket
# ${S3_BUCKET} in the bundled MinIO. Idempotent: safe on every `docker compose up`.
set -eu

: "${MINIO_ENDPOINT:=http://minio:9000}"
: "${MINIO_ROOT_USER:?MINIO_ROOT_USER is not set}"
: "${MINIO_ROOT_PASSWORD:?MINIO_ROOT_PASSWORD is not set}"
: "${S3_BUCKET:?S3_BUCKET is not set}"

# MinIO reports healthy before it always accepts credentials: retry the alias for a while.
attempt=0
until mc alias set inno "$MINIO_ENDPOINT" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 30 ]; then
    echo "minio-init: MinIO at $MINIO_ENDPOINT did not accept the root credentials" >&2
    exit 1
  fi
  sleep 1
done

mc mb --ignore-existing "inno/$S3_BUCKET"
echo "minio-init: bucket '$S3_BUCKET' is ready"
