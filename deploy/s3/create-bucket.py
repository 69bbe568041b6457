"""Creates builder's artifact bucket on the compose stack's S3 server (SeaweedFS).

Runs once per `docker compose up` in the builder image (which has boto3), with the S3
server's administrator identity; builder's own services use a second identity that may
only read, write, list and delete objects in that bucket (deploy/s3/s3-config.sh).
Idempotent: an existing bucket is left as it is.
"""

import os
import sys
import time

import boto3
from botocore.exceptions import ClientError, EndpointConnectionError

bucket = os.environ["ARTIFACT_BUCKET"]
s3 = boto3.client(
    "s3",
    endpoint_url=os.environ["S3_URL"],
    region_name=os.environ.get("ARTIFACT_REGION", "us-east-1"),
    aws_access_key_id=os.environ["S3_ADMIN_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["S3_ADMIN_SECRET_ACCESS_KEY"],
)
for _attempt in range(30):
    try:
        s3.head_bucket(Bucket=bucket)
        print(f"bucket {bucket} exists")
        sys.exit(0)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise
        s3.create_bucket(Bucket=bucket)
        print(f"bucket {bucket} created")
        sys.exit(0)
    except EndpointConnectionError:
        time.sleep(2)
sys.exit(f"the S3 server at {os.environ['S3_URL']} did not answer within 60s")
