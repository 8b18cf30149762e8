#!/usr/bin/env bash
# Installs what effidx's demo and tests need beyond Go: Debian's
# clickhouse-server (the tests start it themselves, on loopback, in a
# temporary directory). Safe to run again: it does nothing when all is there.
set -euo pipefail

have_clickhouse() {
  command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ]
}

# promtool/amtool check the alert rules; prometheus and alertmanager run in
# the end-to-end alerting test.
have_prometheus() {
  command -v promtool >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1 &&
    command -v prometheus >/dev/null 2>&1 && command -v prometheus-alertmanager >/dev/null 2>&1
}

if ! command -v go >/dev/null 2>&1; then
  echo "deps: Go is not on PATH; install Go 1.26 (https://go.dev/dl/) and run this again" >&2
  exit 1
fi

if have_clickhouse && have_prometheus; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  cat >&2 <<'MSG'
deps: clickhouse-server or Prometheus' tools are missing and this machine has no apt-get.
      Install ClickHouse (https://clickhouse.com/docs/install) so that `clickhouse-server`
      is on PATH, or point the tests at a running server: EFFIDX_TEST_CLICKHOUSE_ADDR=host:9000;
      and install Prometheus and Alertmanager so that promtool, prometheus, amtool and
      prometheus-alertmanager are on PATH.
MSG
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "deps: run as root: apt-get install -y clickhouse-server clickhouse-client prometheus prometheus-alertmanager" >&2
    exit 1
  fi
fi

pkgs="clickhouse-server clickhouse-client prometheus prometheus-alertmanager"
echo "deps: installing Debian's $pkgs with apt-get..." >&2
export DEBIAN_FRONTEND=noninteractive
# --no-install-recommends: prometheus would otherwise pull node-exporter,
# smartmontools and more. Services the packages register are not needed:
# the tests start their own servers on free loopback ports.
if ! $sudo apt-get install -y -qq --no-install-recommends $pkgs >/dev/null 2>&1; then
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi
have_clickhouse || { echo "deps: apt-get ran but clickhouse-server is still missing" >&2; exit 1; }
have_prometheus || { echo "deps: apt-get ran but promtool/amtool/prometheus are still missing" >&2; exit 1; }
echo "deps: installed $pkgs" >&2
