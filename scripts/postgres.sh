#!/usr/bin/env bash
# Make sure a PostgreSQL answers on 127.0.0.1:5432 and lets user postgres in without a password
# from the loopback (the stored-glossary tests: a schema of their own per test, dropped after).
# Installs and starts Debian's postgresql when nothing answers. MTQ_TEST_DATABASE_URL points
# the tests elsewhere.
set -euo pipefail

answers() { (exec 3<>/dev/tcp/127.0.0.1/5432) >/dev/null 2>&1; }

if [ -n "${MTQ_TEST_DATABASE_URL:-}" ]; then
    echo "postgres: tests use MTQ_TEST_DATABASE_URL"
    exit 0
fi
if ! answers; then
    source "$(dirname "$0")/debian.sh"
    install_missing postgres pg_ctlcluster postgresql
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
    [ -n "$version" ] || { echo "postgres: no cluster in /etc/postgresql" >&2; exit 1; }
    conf=/etc/postgresql/$version/main
    # Loopback connections as any user without a password: a test database, never a server.
    if ! grep -q "mtq-tests" "$conf/pg_hba.conf"; then
        sed -i '1i host all all 127.0.0.1/32 trust # mtq-tests\nhost all all ::1/128 trust # mtq-tests' \
            "$conf/pg_hba.conf"
    fi
    echo "postgres: not running; starting cluster $version/main"
    pg_ctlcluster "$version" main start
    for _ in $(seq 1 60); do
        if answers; then break; fi
        sleep 0.5
    done
    answers || { echo "postgres: did not come up on :5432" >&2; exit 1; }
fi
echo "postgres: answering on 127.0.0.1:5432"
