#!/usr/bin/env bash
# Start a local PostgreSQL 15 + PostGIS 3 for the storage tests of `glofwatch monitor --db`.
#
# As root with apt-get: installs Debian's postgresql-15 and postgresql-15-postgis-3
# when missing, starts the cluster 15/main on 127.0.0.1:5432, creates the role
# glofwatch (password glofwatch) and the database glofwatch_test with the postgis
# extension, and prints the URL on the last line of stdout:
#
#     export GLOFWATCH_TEST_DB="$(.ci/postgis.sh | tail -n 1)"
#
# Running it again changes nothing. Without root or apt-get it says why and exits 0
# (the PostGIS test then skips with that reason).
set -euo pipefail

PG_VERSION=15
CLUSTER=main
PORT=5432
DB=glofwatch_test
ROLE=glofwatch
PASSWORD=glofwatch
URL="postgresql://${ROLE}:${PASSWORD}@127.0.0.1:${PORT}/${DB}"

say() { echo "postgis.sh: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
  say "not root: cannot install or start PostgreSQL; the PostGIS test will be skipped"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  say "apt-get not found: cannot install PostgreSQL; the PostGIS test will be skipped"
  exit 0
fi

missing=()
for pkg in "postgresql-${PG_VERSION}" "postgresql-${PG_VERSION}-postgis-3"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {found=1} END {exit !found}'; then
  say "creating cluster ${PG_VERSION}/${CLUSTER}"
  pg_createcluster -p "$PORT" "$PG_VERSION" "$CLUSTER" >/dev/null
fi
CONF="/etc/postgresql/${PG_VERSION}/${CLUSTER}/postgresql.conf"
changed=0
if ! grep -q "^listen_addresses = '127.0.0.1'" "$CONF"; then
  echo "listen_addresses = '127.0.0.1'" >>"$CONF"
  changed=1
fi
if ! grep -q "^port = ${PORT}" "$CONF"; then
  echo "port = ${PORT}" >>"$CONF"
  changed=1
fi

status=$(pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $4}')
if [ "$status" = "online" ] && [ "$changed" = 1 ]; then
  say "restarting cluster ${PG_VERSION}/${CLUSTER} for the new settings"
  pg_ctlcluster "$PG_VERSION" "$CLUSTER" restart
elif [ "$status" != "online" ]; then
  say "starting cluster ${PG_VERSION}/${CLUSTER} on 127.0.0.1:${PORT}"
  pg_ctlcluster "$PG_VERSION" "$CLUSTER" start
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p "$PORT" && break
  sleep 1
done
pg_isready -q -h 127.0.0.1 -p "$PORT" || { say "PostgreSQL did not come up on 127.0.0.1:${PORT}"; exit 1; }

psql_admin() { PGOPTIONS='-c client_min_messages=warning' runuser -u postgres -- psql -p "$PORT" -v ON_ERROR_STOP=1 -qtA "$@"; }

if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '${ROLE}'")" != 1 ]; then
  psql_admin -c "CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}'"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '${DB}'")" != 1 ]; then
  psql_admin -c "CREATE DATABASE ${DB} OWNER ${ROLE}"
fi
psql_admin -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS postgis"
say "PostGIS ready: $(psql_admin -d "$DB" -c 'SELECT postgis_lib_version()')"
echo "$URL"
