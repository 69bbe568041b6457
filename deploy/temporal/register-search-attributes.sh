#!/bin/sh
# Registers builder's search attributes on the Temporal namespace, creating only the missing
# ones so the job can run on every `docker compose up`. Runs in temporalio/admin-tools.
#   SEARCH_ATTRIBUTES="Name=Type Name=Type ..."  TEMPORAL_ADDRESS  TEMPORAL_NAMESPACE
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

# auto-setup registers the namespace shortly after the frontend comes up.
tries=0
until temporal operator namespace describe --namespace "$namespace" --address "$address" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "namespace $namespace does not exist on $address after 120s" >&2
    exit 1
  fi
  sleep 2
done

existing="$(temporal operator search-attribute list --namespace "$namespace" --address "$address")"
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
