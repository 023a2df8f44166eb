#!/usr/bin/env bash
# A PostgreSQL server for the sweep tests (studio sweep --storage postgresql://...): installed
# from Debian if missing, started, with a database the tests use. Prints the URL to use on its
# last line; exits non-zero (and the tests skip, saying why) when no server can be started.
set -euo pipefail
if ! command -v pg_lsclusters >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi
read -r version cluster port status _ < <(pg_lsclusters --no-header | head -n1)
if [ "$status" != "online" ]; then
    pg_ctlcluster "$version" "$cluster" start
fi
as_postgres() { su postgres -s /bin/sh -c "$1"; }
as_postgres "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='studio'\"" | grep -q 1 \
    || as_postgres "psql -qc \"CREATE ROLE studio LOGIN PASSWORD 'studio' CREATEDB\""
as_postgres "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='studio_sweeps'\"" | grep -q 1 \
    || as_postgres "createdb -O studio studio_sweeps"
echo "postgresql://studio:studio@localhost:${port}/studio_sweeps"
