#!/usr/bin/env bash
# Runs every SQL statement effidx sends on chDB (current ClickHouse, what
# production runs) and on a ClickHouse server through clickhouse-client
# (Debian's 18.16, what the tests run), and reports per statement.
#
#   scripts/chdbcheck/check.sh [run.js options, e.g. --only REGEX --show-diff]
#
# CHDBCHECK_SERVER=host:port picks the server (default 127.0.0.1:19000);
# CHDBCHECK_SERVER=none runs chDB only. The check creates its own database
# there, chdbcheck_<random>, and drops it on exit. Exit status 1: some
# statement failed on some engine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
server=${CHDBCHECK_SERVER:-127.0.0.1:19000}

# npm ci installs exactly the lock file's chdb; skipped when it is there.
if ! (cd "$here" && node -e 'process.exit(require("chdb/package.json").version === "3.4.0" ? 0 : 1)' 2>/dev/null); then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

db="chdbcheck_$(date +%s)_$RANDOM"
tmp=$(mktemp -d)
client=()
cleanup() {
  if [ "$server" != none ]; then
    clickhouse-client --host "${server%:*}" --port "${server##*:}" -q "DROP DATABASE IF EXISTS $db" || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
if [ "$server" != none ]; then
  client=(--client "$server")
fi

(cd "$root" && go run ./scripts/chdbcheck -db "$db") >"$tmp/stmts.json"
# The schema's zone: chDB takes the session's from the process.
TZ=Asia/Shanghai node "$here/run.js" "$tmp/stmts.json" "${client[@]}" "$@"
