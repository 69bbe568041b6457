#!/bin/sh
# Creates the artifact bucket and a MinIO user for builder that can read and write objects
# but not administer MinIO. Idempotent: runs on every `docker compose up`. Runs in minio/mc.
set -eu

: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${ARTIFACT_BUCKET:?}"
: "${ARTIFACT_ACCESS_KEY_ID:?}" "${ARTIFACT_SECRET_ACCESS_KEY:?}"

# The alias is configured from the environment, so no credential appears on a command line.
export MC_HOST_store="http://${MINIO_ROOT_USER}:${MINIO_ROOT_PASSWORD}@${MINIO_URL#http://}"

mc mb --ignore-existing "store/${ARTIFACT_BUCKET}"

if ! mc admin user info store "$ARTIFACT_ACCESS_KEY_ID" >/dev/null 2>&1; then
  mc admin user add store "$ARTIFACT_ACCESS_KEY_ID" "$ARTIFACT_SECRET_ACCESS_KEY"
fi
mc admin policy attach store readwrite --user "$ARTIFACT_ACCESS_KEY_ID" >/dev/null 2>&1 || true
echo "bucket ${ARTIFACT_BUCKET} ready for user ${ARTIFACT_ACCESS_KEY_ID}"
