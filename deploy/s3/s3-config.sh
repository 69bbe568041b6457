#!/bin/sh
# Writes SeaweedFS's S3 identities (/config/s3.json) from the environment, so no credential
# is committed: an administrator (used only by the one-shot s3-init job to create the
# bucket) and builder's identity, limited to reading, writing, listing and tagging objects
# of the artifact bucket. Runs in the SeaweedFS image before the S3 server starts.
set -eu
: "${S3_ADMIN_ACCESS_KEY_ID:?}" "${S3_ADMIN_SECRET_ACCESS_KEY:?}" "${ARTIFACT_BUCKET:?}"
: "${ARTIFACT_ACCESS_KEY_ID:?}" "${ARTIFACT_SECRET_ACCESS_KEY:?}"
out="${S3_CONFIG_DIR:-/config}/s3.json"
umask 077
cat > "$out" <<JSON
{
  "identities": [
    {
      "name": "admin",
      "credentials": [
        {"accessKey": "${S3_ADMIN_ACCESS_KEY_ID}", "secretKey": "${S3_ADMIN_SECRET_ACCESS_KEY}"}
      ],
      "actions": ["Admin", "Read", "List", "Tagging", "Write"]
    },
    {
      "name": "builder",
      "credentials": [
        {"accessKey": "${ARTIFACT_ACCESS_KEY_ID}", "secretKey": "${ARTIFACT_SECRET_ACCESS_KEY}"}
      ],
      "actions": [
        "Read:${ARTIFACT_BUCKET}", "Write:${ARTIFACT_BUCKET}",
        "List:${ARTIFACT_BUCKET}", "Tagging:${ARTIFACT_BUCKET}"
      ]
    }
  ]
}
JSON
# the S3 server runs as the image's unprivileged user and must read the file
chmod 0444 "$out"
echo "S3 identities written for bucket ${ARTIFACT_BUCKET}"
