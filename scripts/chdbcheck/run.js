#!/usr/bin/env node
// Runs the statements chdbcheck (main.go) rendered on chDB (current
// ClickHouse, in-process) and, with --client, on a ClickHouse server
// through clickhouse-client (the 18.16 that tests use), and reports per
// statement OK or the error, and whether both engines returned the same
// rows. The database gets the schema, then a little data of every kind
// (INSERT ... VALUES with column lists), then the queries run.
//
// usage: node run.js STMTS.json [--client HOST:PORT] [--no-chdb]
//                               [--extra FILE.sql] [--only REGEX] [--show-diff] [--dump DIR]
// --extra runs more statements after the data (a line "-- name: X" starts
// each one): how a proposed fix is tried on both engines with the same data.
// --dump writes every statement's rows to DIR/<engine>/<n>.tsv.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

function parseArgs(argv) {
  const a = { file: null, client: null, chdb: true, extra: null, only: null, showDiff: false, dump: null };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === '--client') a.client = argv[++i];
    else if (v === '--no-chdb') a.chdb = false;
    else if (v === '--extra') a.extra = argv[++i];
    else if (v === '--only') a.only = new RegExp(argv[++i]);
    else if (v === '--show-diff') a.showDiff = true;
    else if (v === '--dump') a.dump = argv[++i];
    else if (!a.file) a.file = v;
    else throw new Error('unexpected argument ' + v);
  }
  if (!a.file) throw new Error('usage: node run.js STMTS.json [--client HOST:PORT] [--no-chdb] [--extra FILE.sql] [--only REGEX]');
  return a;
}

// An engine runs one statement and returns {ok, out} or {ok: false, err}.
function chdbEngine() {
  const { Session } = require('chdb');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chdbcheck-'));
  const s = new Session(dir);
  return {
    name: 'chDB ' + s.query('SELECT version()', 'TSV').trim(),
    run(sql) {
      try {
        return { ok: true, out: s.query(sql, 'TSV') };
      } catch (e) {
        return { ok: false, err: String(e.message || e) };
      }
    },
    close() {
      if (s.cleanup) s.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function clientEngine(hostPort) {
  const [host, port] = hostPort.split(':');
  const run = (sql) => {
    const r = spawnSync('clickhouse-client', ['--host', host, '--port', port], {
      input: sql, encoding: 'utf8', maxBuffer: 1 << 28,
    });
    if (r.error) return { ok: false, err: String(r.error) };
    if (r.status !== 0) return { ok: false, err: r.stderr };
    return { ok: true, out: r.stdout };
  };
  const v = run('SELECT version()');
  if (!v.ok) throw new Error('clickhouse-client at ' + hostPort + ': ' + v.err);
  return { name: 'server ' + v.out.trim(), run, close() {} };
}

// oneLine shortens an error to its message: the exception text without
// the client's banner or a stack trace.
function oneLine(err) {
  let s = String(err).replace(/\s+/g, ' ').trim();
  const i = s.indexOf('Code:');
  if (i > 0) s = s.slice(i);
  s = s.replace(/, e\.displayText\(\) = /, ' ').replace(/DB::Exception: Received from [^ ]+ DB::Exception: /, 'DB::Exception: ');
  const st = s.indexOf(' Stack trace');
  if (st > 0) s = s.slice(0, st);
  return s;
}

// The test data: a few items of every kind, in October 2025 (Asia/Shanghai)
// with some still open in November, so every query has rows to chew on.
function dataStatements(doc) {
  const db = doc.database;
  const cols = ['event_id', 'kind', 'case_id', 'type', 'at', 'department', 'region', 'matter', 'matter_name', 'channel',
    'legal_days', 'promised_days', 'materials_total', 'materials_shared', 'step', 'step_type', 'limit_days',
    'joint_id', 'rating', 'resolved', 'due', 'responsible', 'source', 'received_at', 'ver'];
  let n = 0;
  // ev builds one events row; late: received two hours after it happened.
  const ev = (kind, cs, type, at, o = {}) => {
    n++;
    const r = Object.assign({
      event_id: `e${n}`, kind, case_id: cs, type, at, department: 'd01', region: 'r01', matter: 'm01',
      matter_name: '事项一', channel: '', legal_days: -1, promised_days: -1, materials_total: -1, materials_shared: -1,
      step: '', step_type: '', limit_days: -1, joint_id: '', rating: 0, resolved: -1, due: '1970-01-01',
      responsible: 'p1', source: 'src1', ver: 1000 - n,
    }, o);
    if (!r.received_at) {
      const t = new Date(at.replace(' ', 'T') + '+08:00').getTime() + (o.late ? 7200e3 : 600e3);
      r.received_at = new Date(t + 8 * 3600e3).toISOString().slice(0, 19).replace('T', ' ');
    }
    return '(' + cols.map((c) => (typeof r[c] === 'number' ? String(r[c]) : `'${r[c]}'`)).join(', ') + ')';
  };
  const acc = { channel: 'online', legal_days: 10, promised_days: 5, materials_total: 5, materials_shared: 3 };
  const rows = [
    // c1: a service case with steps in two departments, a suspension, a
    // bad rating that was rectified, a reminder and a red light.
    ev('service', 'c1', 'submitted', '2025-10-09 08:30:00'),
    ev('service', 'c1', 'accepted', '2025-10-09 09:00:00', acc),
    ev('service', 'c1', 'visit', '2025-10-09 09:05:00'),
    ev('service', 'c1', 'signed', '2025-10-09 12:00:00'),
    ev('service', 'c1', 'step_started', '2025-10-09 10:00:00', { step: 's1', step_type: 'handle', limit_days: 2 }),
    ev('service', 'c1', 'step_started', '2025-10-09 11:00:00', { step: 's2', step_type: 'consult', limit_days: 1, department: 'd02', region: 'r02' }),
    ev('service', 'c1', 'step_finished', '2025-10-10 16:00:00', { step: 's1' }),
    ev('service', 'c1', 'step_finished', '2025-10-13 16:00:00', { step: 's2', department: 'd02', region: 'r02', late: true }),
    ev('service', 'c1', 'suspended', '2025-10-14 09:00:00'),
    ev('service', 'c1', 'resumed', '2025-10-15 09:00:00'),
    ev('service', 'c1', 'reminded', '2025-10-16 09:00:00'),
    ev('service', 'c1', 'responded', '2025-10-16 15:00:00'),
    ev('service', 'c1', 'completed', '2025-10-20 17:00:00', { resolved: 1 }),
    ev('service', 'c1', 'rated', '2025-10-21 10:00:00', { rating: 2 }),
    ev('service', 'c1', 'feedback', '2025-10-21 11:00:00'),
    ev('service', 'c1', 'rectified', '2025-10-24 10:00:00'),
    // c2: a ticket done the next day and rated well.
    ev('ticket', 'c2', 'accepted', '2025-10-10 10:00:00', { department: 'd02', region: 'r02', channel: 'mobile', legal_days: 3, promised_days: 0 }),
    ev('ticket', 'c2', 'completed', '2025-10-11 10:00:00', { department: 'd02', region: 'r02', resolved: 0 }),
    ev('ticket', 'c2', 'rated', '2025-10-11 12:00:00', { department: 'd02', region: 'r02', rating: 5 }),
    // c3, c4: open cases (lights); c5: withdrawn; c6: completed without accepted.
    ev('internal', 'c3', 'accepted', '2025-10-12 09:00:00', { legal_days: 5 }),
    ev('scenario', 'c4', 'accepted', '2025-11-10 09:00:00', { promised_days: 1, legal_days: 3 }),
    ev('scenario', 'c4', 'step_started', '2025-11-10 10:00:00', { step: 's1', step_type: 'approve', limit_days: 1 }),
    ev('service', 'c5', 'accepted', '2025-10-13 09:00:00', acc),
    ev('service', 'c5', 'withdrawn', '2025-10-14 09:00:00'),
    ev('service', 'c6', 'completed', '2025-10-15 09:00:00'),
    // t1: a task done late with a milestone met; t2: open, with an open milestone.
    ev('task', 't1', 'accepted', '2025-10-01 09:00:00', { due: '2025-10-20' }),
    ev('task', 't1', 'milestone_due', '2025-10-01 09:00:00', { step: 'ms1', due: '2025-10-15' }),
    ev('task', 't1', 'milestone_met', '2025-10-14 09:00:00', { step: 'ms1' }),
    ev('task', 't1', 'completed', '2025-10-22 09:00:00'),
    ev('task', 't2', 'accepted', '2025-10-05 09:00:00', { due: '2025-12-01', department: 'd02', region: 'r02' }),
    ev('task', 't2', 'milestone_due', '2025-10-05 09:00:00', { step: 'ms2', due: '2025-11-20', department: 'd02', region: 'r02' }),
    // Received within the hour before now (2025-11-15 10:00): what an
    // incremental lights run reads.
    ev('internal', 'c3', 'visit', '2025-11-15 09:20:00'),
    ev('scenario', 'c4', 'step_started', '2025-11-15 09:15:00', { step: 's2', step_type: 'handle', limit_days: 2 }),
    ev('task', 't2', 'milestone_due', '2025-11-15 09:10:00', { step: 'ms3', due: '2025-12-10', department: 'd02', region: 'r02' }),
  ];
  const cal = { version: 'cal1' };
  const all = [
    { name: 'data: events', sql: `INSERT INTO ${db}.events (${cols.join(', ')}) VALUES\n${rows.join(',\n')}` },
    {
      name: 'data: rejected_events', sql: `INSERT INTO ${db}.rejected_events (received_at, source, request_id, idx, department, error, raw, ver) VALUES
('2025-10-10 10:00:00', 'src1', 'req1', 0, 'd01', 'bad type', '{"type":"x"}', 2),
('2025-10-11 10:00:00', 'src1', 'req2', 3, 'd02', 'no case_id', '{}', 1)`,
    },
    {
      name: 'data: light_changes', sql: `INSERT INTO ${db}.light_changes (kind, case_id, item, department, light, since, observed_at, calendar, ver) VALUES
('service', 'c1', '', 'd01', 'yellow', '2025-10-14 09:00:00', '2025-10-14 09:05:00', '${cal.version}', 2),
('service', 'c1', '', 'd01', 'red', '2025-10-16 09:00:00', '2025-10-16 09:05:00', '${cal.version}', 2),
('internal', 'c3', '', 'd01', 'red', '2025-10-20 09:00:00', '2025-10-20 09:05:00', '${cal.version}', 1),
('step', 'c1', 's2', 'd02', 'red', '2025-10-11 09:00:00', '2025-10-11 09:05:00', '${cal.version}', 1)`,
    },
    {
      name: 'data: schema_migrations', sql: `INSERT INTO ${db}.schema_migrations (version, name, checksum, applied_at) VALUES
(1, 'events and rejected_events', 'aaaa', '2025-09-01 00:00:00'), (2, 'light_changes', 'bbbb', '2025-09-01 00:00:00')`,
    },
    {
      name: 'data: manual_values', sql: `INSERT INTO ${db}.manual_values (period, department, indicator, value, inspector, note, entered_at, seq) VALUES
('2025-10', 'd01', 'E4.1', 90, 'i1', '抽查', '2025-11-02 10:00:00', 1), ('2025-10', 'd01', 'E4.1', 95, 'i1', '复查', '2025-11-03 10:00:00', 2)`,
    },
    {
      name: 'data: indicator_results', sql: `INSERT INTO ${db}.indicator_results (period, period_kind, subject_type, subject, indicator, numerator, denominator, value, catalog, calendar, computed_at, run) VALUES
('2025-10', 'month', 'department', 'd01', 'S1.1', 1, 2, 0.5, 'cat', '${cal.version}', '2025-11-01 01:00:00', 1),
('2025-10', 'month', 'city', 'city', 'S1.1', 1, 0, nan, 'cat', '${cal.version}', '2025-11-01 01:00:00', 1)`,
    },
    {
      name: 'data: score_changes', sql: `INSERT INTO ${db}.score_changes (period, subject_type, subject, level, before, after, catalog_before, catalog_after, calendar_before, calendar_after, changed_at) VALUES
('2025-10', 'department', 'd01', 'total', 80, 82, 'a', 'b', 'x', 'y', '2025-11-02 00:00:00')`,
    },
    {
      name: 'data: catalogs', sql: `INSERT INTO ${db}.catalogs (version, yaml, first_used) VALUES ('${doc.catalog}', 'label: x', '2025-11-01 00:00:00')`,
    },
  ];
  // Only the tables the schema has: the check follows schema changes.
  const tables = new Set(doc.statements.filter((s) => s.phase === 'schema').map((s) => (s.name.match(/^schema: table (\S+)/) || [])[1]));
  return all.filter((d) => tables.has(d.name.replace(/^data: /, '')));
}

function readExtra(file) {
  const text = fs.readFileSync(file, 'utf8');
  const out = [];
  for (const part of text.split(/^-- name: /m).slice(1)) {
    const nl = part.indexOf('\n');
    out.push({ name: 'extra: ' + part.slice(0, nl).trim(), phase: 'query', sql: part.slice(nl + 1).trim().replace(/;\s*$/, '') });
  }
  return out;
}

// normalise makes outputs comparable: rows in any order, and the zero
// DateTime, which 18.16 prints as 0000-00-00 00:00:00 and current
// ClickHouse as the epoch in the column's zone (the same value on the wire).
function normalise(out, zeroTime) {
  return out.split('\n').filter((l) => l !== '').sort().join('\n').split(zeroTime).join('0000-00-00 00:00:00');
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const doc = JSON.parse(fs.readFileSync(args.file, 'utf8'));
  const data = dataStatements(doc).map((d) => Object.assign({ phase: 'data', from: 'run.js' }, d));
  const byPhase = (p) => doc.statements.filter((s) => s.phase === p);
  const extra = args.extra ? readExtra(args.extra) : [];
  let plan = [...byPhase('schema'), ...data, ...byPhase('query'), ...extra, ...byPhase('last')];
  if (args.only) plan = plan.filter((s) => s.phase === 'schema' || s.phase === 'data' || args.only.test(s.name));

  const engines = [];
  if (args.client) engines.push(clientEngine(args.client));
  if (args.chdb) engines.push(chdbEngine());
  const results = plan.map(() => []);
  for (const e of engines) {
    plan.forEach((s, i) => {
      results[i].push(s.error ? { ok: false, err: 'not rendered: ' + s.error } : e.run(s.sql));
    });
    e.close();
  }

  // The epoch as the schema's zone prints it.
  const zeroTime = new Date(0).toLocaleString('sv-SE', { timeZone: doc.timezone });
  if (args.dump) {
    engines.forEach((e, j) => {
      const dir = path.join(args.dump, e.name.replace(/[^A-Za-z0-9.]+/g, '_'));
      fs.mkdirSync(dir, { recursive: true });
      plan.forEach((s, i) => fs.writeFileSync(path.join(dir, `${i + 1}.tsv`), results[i][j].ok ? results[i][j].out : 'ERROR ' + results[i][j].err));
    });
  }
  const cell = (r) => (r.ok ? 'OK' : 'FAIL');
  console.log(`# chdbcheck: ${plan.length} statements on ${engines.map((e) => e.name).join(' and ')} (database ${doc.database})\n`);
  console.log('| # | statement | ' + engines.map((e) => e.name).join(' | ') + (engines.length > 1 ? ' | same rows |' : ''));
  console.log('|---|---|' + engines.map(() => '---|').join('') + (engines.length > 1 ? '---|' : ''));
  let failed = 0;
  const details = [];
  plan.forEach((s, i) => {
    const rs = results[i];
    let same = '';
    if (engines.length > 1) {
      if (rs.every((r) => r.ok)) {
        const raw = rs.map((r) => normalise(r.out, '0000-00-00 00:00:00'));
        const outs = rs.map((r) => normalise(r.out, zeroTime));
        if (outs.every((o) => o === outs[0])) {
          same = outs[0] === '' ? '(no rows)' : raw.every((o) => o === raw[0]) ? 'yes' : 'yes (zero DateTime printed differently)';
        } else same = s.expect ? `differs (expected: ${s.expect})` : 'DIFFERENT';
        if (same === 'DIFFERENT' && args.showDiff) {
          details.push(`\n## ${i + 1}. ${s.name}: rows differ\n` + rs.map((r, j) => `\n${engines[j].name}:\n${r.out}`).join(''));
        }
      } else same = '-';
      same = ' ' + same + ' |';
    }
    if (rs.some((r) => !r.ok)) failed++;
    console.log(`| ${i + 1} | ${s.name} | ${rs.map(cell).join(' | ')} |${same}`);
    rs.forEach((r, j) => {
      if (!r.ok) details.push(`\n## ${i + 1}. ${s.name} on ${engines[j].name}\nfrom: ${s.from}\n\n    ${oneLine(r.err)}`);
    });
  });
  if (details.length) console.log('\n# Failures' + details.join('\n'));
  if (doc.skipped && doc.skipped.length) console.log('\n# Not run as such (covered elsewhere or inserts)\n\n' + doc.skipped.map((s) => '- ' + s).join('\n'));
  console.log(`\n${failed} of ${plan.length} statements failed on at least one engine.`);
  process.exitCode = failed ? 1 : 0;
}

main();
