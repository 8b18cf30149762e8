#!/usr/bin/env bash
# Installs what effidx's demo and tests need beyond Go: Debian's
# clickhouse-server (the tests start it themselves, on loopback, in a
# temporary directory). Safe to run again: it does nothing when all is there.
set -euo pipefail

have_clickhouse() {
  command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ]
}

if ! command -v go >/dev/null 2>&1; then
  echo "deps: Go is not on PATH; install Go 1.26 (https://go.dev/dl/) and run this again" >&2
  exit 1
fi

if have_clickhouse; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  cat >&2 <<'MSG'
deps: clickhouse-server is missing and this machine has no apt-get.
      Install ClickHouse from your distribution or https://clickhouse.com/docs/install
      so that `clickhouse-server` is on PATH, or point the tests at a running server:
      EFFIDX_TEST_CLICKHOUSE_ADDR=host:9000 make test
MSG
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "deps: clickhouse-server is missing; run as root: apt-get install -y clickhouse-server clickhouse-client" >&2
    exit 1
  fi
fi

echo "deps: installing Debian's clickhouse-server with apt-get..." >&2
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null 2>&1; then
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
fi
have_clickhouse || { echo "deps: apt-get ran but clickhouse-server is still missing" >&2; exit 1; }
echo "deps: clickhouse-server installed" >&2
