#!/usr/bin/env bash
# Install Debian's PostgreSQL server when it is missing (the PostgreSQL sink and ingest tests
# start their own throwaway cluster on a free loopback port, as a user that is not root; the
# packaged cluster and service are not used). Needs root.
set -euo pipefail

find_postgres() {
    local found
    if found=$(command -v pg_ctl 2>/dev/null) && [ -x "$(dirname "$found")/initdb" ]; then
        echo "$(dirname "$found")"
        return 0
    fi
    # Debian keeps the server programs out of PATH, one folder per major version.
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$found" ] && [ -x "$found/initdb" ] && [ -x "$found/postgres" ] && echo "$found"
}

if path=$(find_postgres); then
    echo "PostgreSQL already installed: $path"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "postgres.sh: PostgreSQL is missing and installing it needs root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends postgresql
# The tests run their own cluster; keep the packaged one from running in the background.
if command -v pg_ctlcluster >/dev/null 2>&1; then
    for cluster in /etc/postgresql/*/main; do
        [ -d "$cluster" ] || continue
        version=$(basename "$(dirname "$cluster")")
        pg_ctlcluster "$version" main stop 2>/dev/null || true
    done
fi
echo "PostgreSQL installed: $(find_postgres)"
