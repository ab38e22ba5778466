#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries (initdb, postgres) are installed for
# the benchmark's peer, and prints the directory that holds them.
# Installs Debian's `postgresql` package when they are missing (needs root,
# as CI has). The benchmark itself initdb's a temporary cluster and runs it
# on a free loopback port; nothing here starts a service.
set -euo pipefail

find_bin() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

if ! bin=$(find_bin); then
    if [ "$(id -u)" != 0 ]; then
        echo "setup-postgres: PostgreSQL is not installed; run as root, or: apt-get install -y postgresql" >&2
        exit 1
    fi
    echo "setup-postgres: installing Debian's postgresql package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
    bin=$(find_bin)
fi
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/false postgres >&2
fi
echo "$bin"
