#!/bin/sh
# Service temporal-admin-tools (image temporalio/admin-tools), before the server starts:
# create Temporal's two databases on the postgresql service and bring their schemas up to
# the version this admin-tools release ships (keep TEMPORAL_ADMINTOOLS_VERSION equal to
# TEMPORAL_VERSION).
#
# Safe on every `docker compose up`: `create` leaves an existing database alone,
# `setup-schema -v 0.0` does nothing to a schema that is already versioned, and
# `update-schema` applies only the versions a database does not have yet.
set -eu

PLUGIN="${DB:-postgres12}"
PG_HOST="${POSTGRES_SEEDS:-postgresql}"
PG_PORT="${DB_PORT:-5432}"
PG_USER="${POSTGRES_USER:-temporal}"
# temporal-sql-tool takes the password from SQL_PASSWORD.
SQL_PASSWORD="${SQL_PASSWORD:-${POSTGRES_PWD:-}}"
export SQL_PASSWORD
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

echo "waiting for PostgreSQL at $PG_HOST:$PG_PORT"
attempt=1
until nc -z -w 2 "$PG_HOST" "$PG_PORT"; do
  if [ "$attempt" -ge 30 ]; then
    echo "PostgreSQL at $PG_HOST:$PG_PORT is not reachable" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep 2
done

sql_tool() {
  temporal-sql-tool --plugin "$PLUGIN" --ep "$PG_HOST" -p "$PG_PORT" -u "$PG_USER" "$@"
}

# setup_database NAME VERSIONED_SCHEMA_DIR
setup_database() {
  echo "database $1: create, set up, update schema from $2"
  sql_tool --db "$1" create
  sql_tool --db "$1" setup-schema -v 0.0
  sql_tool --db "$1" update-schema -d "$2"
}

setup_database temporal "$SCHEMA_DIR/temporal/versioned"
setup_database temporal_visibility "$SCHEMA_DIR/visibility/versioned"

echo "Temporal schema is up to date"
