#!/usr/bin/env bash
# Installs what effidx's demo and tests need beyond Go: Debian's
# clickhouse-server (the tests start it themselves, on loopback, in a
# temporary directory), Prometheus' tools, and chromium with a CJK font for
# the dashboard's browser test, and npm for `go generate`. Safe to run again: it installs only what is
# missing and does nothing when all is there.
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

# The browser test drives Debian's chromium headless; without a CJK font
# the Chinese labels render as boxes in its screenshots.
have_chromium() {
  command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]
}

# The cluster test runs two shards of two replicas each: replication on
# 18.16 needs ZooKeeper (Debian's zookeeper, started by the test itself).
have_zookeeper() {
  [ -f /usr/share/java/zookeeper.jar ] && command -v java >/dev/null 2>&1
}

# go generate fetches the ECharts bundle the pages embed from npm's echarts
# (pinned in dashboard/web/package-lock.json).
have_npm() {
  command -v npm >/dev/null 2>&1
}

have_cjk_font() {
  command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh family 2>/dev/null)" ]
}

if ! command -v go >/dev/null 2>&1; then
  echo "deps: Go is not on PATH; install Go 1.26 (https://go.dev/dl/) and run this again" >&2
  exit 1
fi

pkgs=""
have_clickhouse || pkgs="$pkgs clickhouse-server clickhouse-client"
have_prometheus || pkgs="$pkgs prometheus prometheus-alertmanager"
have_chromium || pkgs="$pkgs chromium"
# fonts-wqy-zenhei: 7 MB against fonts-noto-cjk's 56 MB.
have_cjk_font || pkgs="$pkgs fonts-wqy-zenhei"
have_npm || pkgs="$pkgs npm"
have_zookeeper || pkgs="$pkgs zookeeper"
pkgs="${pkgs# }"
if [ -z "$pkgs" ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  cat >&2 <<'MSG'
deps: clickhouse-server, Prometheus' tools or chromium are missing and this machine has no apt-get.
      Install ClickHouse (https://clickhouse.com/docs/install) so that `clickhouse-server`
      is on PATH, or point the tests at a running server: EFFIDX_TEST_CLICKHOUSE_ADDR=host:9000;
      install Prometheus and Alertmanager so that promtool, prometheus, amtool and
      prometheus-alertmanager are on PATH; and install chromium (as `chromium`) with a
      Chinese font for the dashboard's browser test.
MSG
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "deps: run as root: apt-get install -y --no-install-recommends $pkgs" >&2
    exit 1
  fi
fi

echo "deps: installing Debian's $pkgs with apt-get..." >&2
export DEBIAN_FRONTEND=noninteractive
# --no-install-recommends: prometheus would otherwise pull node-exporter,
# smartmontools and more, chromium a desktop's worth of extras. Services
# the packages register are not needed: the tests start their own servers
# on free loopback ports.
if ! $sudo apt-get install -y -qq --no-install-recommends $pkgs >/dev/null 2>&1; then
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi
have_clickhouse || { echo "deps: apt-get ran but clickhouse-server is still missing" >&2; exit 1; }
have_prometheus || { echo "deps: apt-get ran but promtool/amtool/prometheus are still missing" >&2; exit 1; }
have_chromium || { echo "deps: apt-get ran but chromium is still missing" >&2; exit 1; }
have_cjk_font || { echo "deps: apt-get ran but no Chinese font is installed" >&2; exit 1; }
have_npm || { echo "deps: apt-get ran but npm is still missing" >&2; exit 1; }
have_zookeeper || { echo "deps: apt-get ran but ZooKeeper (or java) is still missing" >&2; exit 1; }
echo "deps: installed $pkgs" >&2
