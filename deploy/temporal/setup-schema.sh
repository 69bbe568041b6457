#!/bin/sh
# Creates Temporal's two databases on the compose Postgres and brings their schemas to the
# version this admin-tools image ships, as Temporal's own compose files do now that the
# auto-setup image is retired. Safe to re-run (it ran on every start inside auto-setup):
# an existing database is kept and only missing schema versions are applied. Runs in
# temporalio/admin-tools of the same version as temporalio/server.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
port="${DB_PORT:-5432}"
schema=/etc/temporal/schema/postgresql/v12

echo "waiting for Postgres at ${POSTGRES_SEEDS}:${port}"
tries=0
until nc -z -w 2 "$POSTGRES_SEEDS" "$port"; do
  tries=$((tries + 1))
  [ "$tries" -lt 60 ] || { echo "Postgres did not answer within 120s" >&2; exit 1; }
  sleep 2
done

for db in temporal temporal_visibility; do
  dir="$schema/temporal/versioned"
  [ "$db" = temporal_visibility ] && dir="$schema/visibility/versioned"
  # the password comes from SQL_PASSWORD in the environment, never from a command line
  tool="temporal-sql-tool --plugin postgres12 --ep $POSTGRES_SEEDS -p $port -u $POSTGRES_USER --db $db"
  $tool create || echo "database $db exists"
  $tool setup-schema -v 0.0
  $tool update-schema -d "$dir"
  echo "database $db is at the schema of this release"
done
