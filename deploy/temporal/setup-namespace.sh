#!/bin/sh
# Creates builder's Temporal namespace when it is missing and registers builder's search
# attributes on it, creating only the missing ones, so the job can run on every
# `docker compose up` (temporalio/server, unlike the retired auto-setup image, creates no
# namespace). Runs in temporalio/admin-tools.
#   SEARCH_ATTRIBUTES="Name=Type Name=Type ..."  TEMPORAL_ADDRESS  TEMPORAL_NAMESPACE
#   NAMESPACE_RETENTION (default 7d): history retention of a namespace this job creates
set -eu

address="${TEMPORAL_ADDRESS:-temporal:7233}"
namespace="${TEMPORAL_NAMESPACE:-default}"
attributes="${SEARCH_ATTRIBUTES:?SEARCH_ATTRIBUTES must list Name=Type pairs}"

echo "waiting for Temporal at $address"
tries=0
until temporal operator cluster health --address "$address" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "Temporal at $address was not healthy after 120s" >&2
    exit 1
  fi
  sleep 2
done

if temporal operator namespace describe --namespace "$namespace" --address "$address" \
  >/dev/null 2>&1; then
  echo "namespace $namespace exists"
else
  temporal operator namespace create --namespace "$namespace" --address "$address" \
    --retention "${NAMESPACE_RETENTION:-7d}"
  echo "namespace $namespace created"
fi

# describe answers from the database at once; the search-attribute calls answer from the
# namespace cache, which learns of a new namespace some seconds later
tries=0
until existing="$(temporal operator search-attribute list --namespace "$namespace" \
  --address "$address" 2>/dev/null)"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "namespace $namespace is not usable on $address after 120s" >&2
    exit 1
  fi
  sleep 2
done

for pair in $attributes; do
  name="${pair%%=*}"
  kind="${pair#*=}"
  if printf '%s\n' "$existing" | grep -qw "$name"; then
    echo "search attribute $name already registered"
  else
    temporal operator search-attribute create --namespace "$namespace" --address "$address" \
      --name "$name" --type "$kind"
    echo "search attribute $name ($kind) created"
  fi
done
