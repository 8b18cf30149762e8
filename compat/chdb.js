// chDB (ClickHouse in-process, npm's chdb) as a statement runner for the Go
// side of compat: one JSON request per stdin line, {"sql": "..."}, one JSON
// answer per stdout line, {"ok": true, "out": "<TabSeparated>"} or
// {"ok": false, "err": "..."}. The first line out names the engine:
// {"version": "...", "timezone": "..."}. The session's time zone is the
// process's (TZ), set by the caller to the recorded server's zone.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');

const send = (o) => process.stdout.write(JSON.stringify(o) + '\n');

let Session;
try {
  ({ Session } = require('chdb'));
} catch (e) {
  // The Go side reports this line: a missing or broken install says so.
  send({ fatal: 'cannot load npm package chdb: ' + (e.message || e) });
  process.exit(1);
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'effidx-compat-chdb-'));
const session = new Session(dir);
const [version, timezone] = session.query('SELECT version(), timezone()', 'TabSeparated').trim().split('\t');
send({ version, timezone });

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  let sql;
  try {
    ({ sql } = JSON.parse(line));
  } catch (e) {
    send({ ok: false, err: 'bad request line: ' + e.message });
    return;
  }
  try {
    send({ ok: true, out: session.query(sql, 'TabSeparated') });
  } catch (e) {
    send({ ok: false, err: String(e.message || e) });
  }
});
rl.on('close', () => {
  session.close();
  fs.rmSync(dir, { recursive: true, force: true });
});
