#!/usr/bin/env bash
# Start what the tests need beside Python: a PostgreSQL server on loopback (and Chromium for the HTML
# timeline test). Installs them from Debian packages when missing. Prints `export ...` lines to eval.
set -euo pipefail

log() { echo "test-services: $*" >&2; }
need_update=1
apt_install() {
  if [ "$need_update" = 1 ]; then apt-get update -qq >/tmp/caseline-apt.log 2>&1 || true; need_update=0; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/tmp/caseline-apt.log 2>&1
}

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing postgresql"
  apt_install postgresql
fi
if ! command -v chromium >/dev/null 2>&1; then
  log "installing chromium"
  apt_install chromium || log "chromium could not be installed"
fi

version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$version main$"; then
  pg_createcluster "$version" main >&2
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')
pg_ctlcluster "$version" main start >&2 2>/dev/null || true
for _ in $(seq 1 30); do
  pg_isready -h 127.0.0.1 -p "$port" -q && break
  sleep 1
done
su postgres -c "psql -q -p $port -tc \"SELECT 1 FROM pg_roles WHERE rolname='caseline'\"" | grep -q 1 || \
  su postgres -c "psql -q -p $port -c \"CREATE ROLE caseline LOGIN PASSWORD 'caseline' CREATEDB\"" >&2
su postgres -c "psql -q -p $port -tc \"SELECT 1 FROM pg_database WHERE datname='caseline_test'\"" | grep -q 1 || \
  su postgres -c "psql -q -p $port -c \"CREATE DATABASE caseline_test OWNER caseline\"" >&2
echo "export CASELINE_TEST_PG_URL=postgresql+psycopg://caseline:caseline@127.0.0.1:$port/caseline_test"
if command -v chromium >/dev/null 2>&1; then echo "export CASELINE_CHROMIUM=$(command -v chromium)"; fi
