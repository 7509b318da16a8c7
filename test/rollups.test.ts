// Issue 28: the reports read rollups (flow_rollup) and answer exactly as the flows do.
// Every report, with each filter, is asked twice of the same database — from the flows
// themselves (--from-flows, one group a flow: the flow-scanning queries) and from the
// rollups — and the two answers must be the same, row for row. The databases are real:
// the shared public traces (years apart: a --since/--until inside one cuts only its
// hour), the lab captures with and without an inventory, the project's sample, and a
// generated organisation day spread over hours (org-day.ts with a slow span port).
// And the rollups themselves are checked against GROUP BY over the flows after analyze,
// --force, an audit with a new inventory, an interrupted run and a merge.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openDb } from '../src/store/db';
import type { Db } from '../src/store/db';
import { loadRules } from '../src/rules/load';
import { summaryReport } from '../src/report/summary';
import { matrixReport } from '../src/report/matrix';
import { rolesReport } from '../src/report/role-traffic';
import { encryptionReport, servicesReport, unexpectedReport } from '../src/report/findings';
import { hostProtection, protectionReport } from '../src/report/protection';
import { hostStory } from '../src/report/host';
import { htmlReport } from '../src/report/html';
import { firewallPlan } from '../src/report/firewall';
import type { FlowFilter } from '../src/report/filter';
import { dropGroups, materializeGroups } from '../src/report/groups';
import { defaultTemplates, writeOrgDay } from '../src/samples/org-day';
import { frame, type TimedFrame } from '../src/samples/frames';
import { pcapngBytes } from '../src/samples/writer';
import { BUCKET_SECONDS } from '../src/store/schema';
import { changingFlows } from '../src/store/rollups';
import { CLI, HAVE_SHARED, ROOT, runCli, shared, tmpDir, waitFor } from './helpers';

const rules = loadRules();

/** Every report as a plain value (the HTML page without its generation time). */
const REPORTS: Record<string, (db: Db, f: FlowFilter) => unknown> = {
  summary: (db, f) => summaryReport(db, f),
  matrix: (db, f) => matrixReport(db, rules, f),
  roles: (db, f) => rolesReport(db, f),
  unexpected: (db, f) => unexpectedReport(db, f),
  services: (db, f) => servicesReport(db, f),
  encryption: (db, f) => encryptionReport(db, f),
  protection: (db, f) => protectionReport(db, rules, f),
  firewall: (db, f) =>
    (['role', 'host'] as const).flatMap((per) =>
      [true, false].map((all) => {
        // --all, and without it: the flows left out that the rules would let through (conflicts).
        const p = firewallPlan(db, rules, f, { per, all });
        return { counts: p.counts, rules: [...p.rules], dynamic: [...p.rpc_dynamic], conflicts: [...p.conflicts] };
      }),
    ),
  html: (db, f) => htmlReport(db, rules, f, 'check').replace(/generated [0-9T:.Z-]+/, 'generated'),
};

/** The rollup the flows of a database add up to, and what flow_rollup holds: as sorted JSON rows. */
function rollupsBothWays(db: Db): { stored: string; fromFlows: string } {
  const cols = `run_id, bucket, client, server, transport, server_port, service, via, rpc_interface, rpc_interfaces, tls, protection, account, answered,
    flows, packets_c2s, packets_s2c, bytes_c2s, bytes_s2c, first_ns, last_ns, max_first_ns, min_last_ns, first_id`;
  const stored = db.prepare(`SELECT ${cols} FROM flow_rollup ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14`).raw().all();
  const fromFlows = db
    .prepare(
      `SELECT c.run_id, f.first_sec - f.first_sec % ${BUCKET_SECONDS}, f.client, f.server, f.transport, f.server_port,
              coalesce(f.service, ''), coalesce(f.via, ''), coalesce(f.rpc_interface, ''), coalesce(f.rpc_interfaces, ''), coalesce(f.tls, ''), coalesce(f.protection, ''),
              CASE WHEN f.protection IS NOT NULL THEN coalesce(f.auth_account, '') ELSE '' END,
              CASE WHEN f.tcp_state IN ('established', 'closed', 'reset', 'midstream') OR (f.transport = 'udp' AND f.packets_s2c > 0) THEN 1 ELSE 0 END,
              count(*), sum(f.packets_c2s), sum(f.packets_s2c), sum(f.bytes_c2s), sum(f.bytes_s2c),
              min(f.first_sec * 1000000000 + f.first_nsec), max(f.last_sec * 1000000000 + f.last_nsec),
              max(f.first_sec * 1000000000 + f.first_nsec), min(f.last_sec * 1000000000 + f.last_nsec), min(f.id)
       FROM flows f JOIN captures c ON c.id = f.capture_id GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14`,
    )
    .raw()
    .all();
  return { stored: JSON.stringify(stored, (_k, v) => (typeof v === 'bigint' ? String(v) : v)), fromFlows: JSON.stringify(fromFlows, (_k, v) => (typeof v === 'bigint' ? String(v) : v)) };
}

/**
 * What a table of finished runs' totals holds, and the flows of finished runs added up the same
 * way — per run (flow_rollup_run) or per sensor (flow_rollup_sensor) and key: as sorted JSON rows.
 */
function finishedTotalsBothWays(db: Db, per: 'run' | 'sensor'): { stored: string; fromFlows: string } {
  const json = (rows: unknown[]) => JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
  const stored = db.prepare(`SELECT ${per === 'run' ? 'run_id' : 'sensor'}, client, server, transport, server_port, service, via, rpc_interface, rpc_interfaces, tls, protection, account, answered,
    flows, packets_c2s, packets_s2c, bytes_c2s, bytes_s2c, first_ns, last_ns, max_first_ns, min_last_ns, first_id FROM flow_rollup_${per} ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13`).raw().all();
  const fromFlows = db
    .prepare(
      `SELECT ${per === 'run' ? 'c.run_id' : "coalesce(r.sensor, '')"}, f.client, f.server, f.transport, f.server_port,
              coalesce(f.service, ''), coalesce(f.via, ''), coalesce(f.rpc_interface, ''), coalesce(f.rpc_interfaces, ''), coalesce(f.tls, ''), coalesce(f.protection, ''),
              CASE WHEN f.protection IS NOT NULL THEN coalesce(f.auth_account, '') ELSE '' END,
              CASE WHEN f.tcp_state IN ('established', 'closed', 'reset', 'midstream') OR (f.transport = 'udp' AND f.packets_s2c > 0) THEN 1 ELSE 0 END,
              count(*), sum(f.packets_c2s), sum(f.packets_s2c), sum(f.bytes_c2s), sum(f.bytes_s2c),
              min(f.first_sec * 1000000000 + f.first_nsec), max(f.last_sec * 1000000000 + f.last_nsec),
              max(f.first_sec * 1000000000 + f.first_nsec), min(f.last_sec * 1000000000 + f.last_nsec), min(f.id)
       FROM flows f JOIN captures c ON c.id = f.capture_id JOIN runs r ON r.id = c.run_id WHERE r.status = 'complete'
         ${per === 'sensor' ? `AND coalesce(r.sensor, '') IN (${SENSORS_OF_RUNS})` : ''}
       GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13`,
    )
    .raw()
    .all();
  return { stored: json(stored), fromFlows: json(fromFlows) };
}

/**
 * The sensors with more than one finished run: those that have totals of their own (a sensor's
 * only finished run's rows are its totals, read as they are).
 */
const SENSORS_OF_RUNS = "SELECT coalesce(v.sensor, '') FROM runs v WHERE v.status = 'complete' GROUP BY 1 HAVING count(*) > 1";

/** Each sensor of several finished runs and the runs its totals hold, and the same from the runs: held exactly (the fast path read); no other sensor held. */
function sensorsHeld(db: Db): { held: string; finished: string } {
  const held = db.prepare('SELECT sensor, run_id FROM rollup_sensor_runs ORDER BY 1, 2').raw().all();
  const finished = db.prepare(`SELECT coalesce(sensor, ''), id FROM runs WHERE status = 'complete' AND coalesce(sensor, '') IN (${SENSORS_OF_RUNS}) ORDER BY 1, 2`).raw().all();
  return { held: JSON.stringify(held), finished: JSON.stringify(finished) };
}

function expectRollupsRight(file: string): void {
  const db = openDb(file, { create: false });
  try {
    const r = rollupsBothWays(db);
    expect(r.stored.length).toBeGreaterThan(2);
    expect(r.stored).toBe(r.fromFlows);
    // A finished run's rows without the hour: its flows' sums; none for a run that did not finish.
    const t = finishedTotalsBothWays(db, 'run');
    expect(t.stored.length).toBeGreaterThan(2);
    expect(t.stored).toBe(t.fromFlows);
    // Each sensor's finished runs without the run: their flows' sums, and held for exactly those runs (so reports read them).
    const st = finishedTotalsBothWays(db, 'sensor');
    expect(st.stored).toBe(st.fromFlows);
    const h = sensorsHeld(db);
    expect(h.held).toBe(h.finished);
    // Each hour's latest and earliest last packet (what a time filter reaches, and takes whole): its flows'.
    const hours = db.prepare('SELECT run_id, bucket, last_ns, min_last_ns FROM flow_hours ORDER BY 1, 2').raw().all();
    const hoursOfFlows = db
      .prepare(
        `SELECT c.run_id, f.first_sec - f.first_sec % ${BUCKET_SECONDS}, max(f.last_sec * 1000000000 + f.last_nsec), min(f.last_sec * 1000000000 + f.last_nsec)
         FROM flows f JOIN captures c ON c.id = f.capture_id GROUP BY 1, 2 ORDER BY 1, 2`,
      )
      .raw()
      .all();
    expect(hours.length).toBeGreaterThan(0);
    expect(hours).toEqual(hoursOfFlows);
    // The flows by the minute they started (the timeline's): their flows' counts, bytes, starts, and latest and earliest ends.
    const minutes = db.prepare('SELECT run_id, minute, flows, bytes, first_ts, last_first_ts, last_ns, min_last_ns FROM flow_minutes ORDER BY 1, 2').raw().all();
    const ofFlows = db
      .prepare(
        `SELECT c.run_id, f.first_sec - f.first_sec % 60, count(*), sum(f.bytes_c2s + f.bytes_s2c), min(f.first_sec + f.first_nsec / 1e9), max(f.first_sec + f.first_nsec / 1e9),
                max(f.last_sec * 1000000000 + f.last_nsec), min(f.last_sec * 1000000000 + f.last_nsec)
         FROM flows f JOIN captures c ON c.id = f.capture_id GROUP BY 1, 2 ORDER BY 1, 2`,
      )
      .raw()
      .all();
    expect(minutes.length).toBeGreaterThan(0);
    expect(minutes).toEqual(ofFlows);
  } finally {
    db.close();
  }
}

/**
 * The filters a database is asked with: none; --since/--until inside an hour of its busiest
 * capture (cutting rollup rows), together and on an hour's edge; each column filter; a CIDR.
 */
function filtersFor(db: Db): FlowFilter[] {
  const busiest = db
    .prepare('SELECT c.id, min(f.first_sec) AS a, max(f.last_sec) AS b, count(*) AS n FROM flows f JOIN captures c ON c.id = f.capture_id GROUP BY c.id ORDER BY n DESC LIMIT 1')
    .get() as { id: number; a: number; b: number };
  const mid = Math.floor((busiest.a + busiest.b) / 2) + 0.4375;
  const hour = busiest.a - (busiest.a % BUCKET_SECONDS) + BUCKET_SECONDS;
  const pick = (sql: string) => db.prepare(sql).pluck().get() as string | undefined;
  const host = pick('SELECT server FROM flows GROUP BY server ORDER BY count(*) DESC, server LIMIT 1');
  const service = pick('SELECT service FROM flows WHERE service IS NOT NULL GROUP BY service ORDER BY count(*) DESC, service LIMIT 1');
  const role = pick("SELECT roles FROM hosts WHERE roles IS NOT NULL AND roles NOT LIKE '%,%' ORDER BY address LIMIT 1");
  const finding = pick("SELECT protection FROM flows WHERE protection IS NOT NULL AND protection NOT LIKE '%,%' LIMIT 1");
  const sensor = pick("SELECT sensor FROM runs WHERE status = 'complete' LIMIT 1");
  const out: FlowFilter[] = [{}, { since: mid }, { until: mid }, { since: mid - 600, until: mid + 0.5 }, { since: hour }, { until: busiest.a + 1 }, { capture: String(busiest.id) }];
  out.push({ verdict: 'unknown' }, { verdict: 'expected', since: mid });
  if (host) out.push({ host }, { server: host, until: mid }, { client: `${host.includes(':') ? host : host.replace(/\.\d+$/, '.0')}/${host.includes(':') ? 64 : 24}` });
  if (service) out.push({ service }, { service, since: mid });
  if (role) out.push({ role });
  if (finding) out.push({ finding }, { finding, until: mid });
  if (sensor) out.push({ sensor });
  // Finished runs a time filter takes whole (read without the hour): --since the first hour of the
  // first and of the last run (those after it whole too), --until two seconds after their last packet.
  const runs = db.prepare("SELECT min(h.bucket) AS first, max(h.last_ns) AS last FROM flow_hours h JOIN runs v ON v.id = h.run_id WHERE v.status = 'complete' GROUP BY h.run_id ORDER BY h.run_id").all() as { first: number; last: number }[];
  for (const r of new Set([runs[0], runs[runs.length - 1]])) if (r) out.push({ since: r.first }, { until: Math.ceil(r.last / 1e9) + 2 });
  // A window that takes a run whole, with another condition: which captures have a flow is still asked of each.
  if (runs[0] && service) out.push({ service, since: runs[0].first });
  if (runs[0] && host) out.push({ host, until: Math.ceil(runs[0].last / 1e9) + 2 });
  // A flow whose last packet came before its first (a capture out of order; the public traces have
  // one): a --since between the two leaves it out though it began after — the minutes it began in
  // cannot say so, their flows must be read.
  const backwards = db
    .prepare('SELECT f.first_sec + f.first_nsec / 1e9 AS first, f.last_sec + f.last_nsec / 1e9 AS last FROM flows f WHERE f.last_sec * 1000000000 + f.last_nsec < f.first_sec * 1000000000 + f.first_nsec ORDER BY f.id LIMIT 1')
    .get() as { first: number; last: number } | undefined;
  if (backwards) out.push({ since: (backwards.first + backwards.last) / 2 }, { since: (backwards.first + backwards.last) / 2, until: backwards.first + 60 });
  return out;
}

/** Two long answers the same; where they differ, the neighbourhood of the first difference (not pages of HTML). */
function expectSame(fromRollups: string, fromFlows: string, what: string): void {
  if (fromRollups === fromFlows) return;
  let i = 0;
  while (i < fromRollups.length && fromRollups[i] === fromFlows[i]) i++;
  expect(`${what}: differs at ${i}: ${fromRollups.slice(Math.max(0, i - 300), i + 200)}`).toBe(`${what}: differs at ${i}: ${fromFlows.slice(Math.max(0, i - 300), i + 200)}`);
}

/** Asks every report with every filter both ways; returns how many answers were compared. */
function compareAll(file: string): number {
  const db = openDb(file, { create: false });
  let compared = 0;
  try {
    for (const f of filtersFor(db)) {
      // The groups read once for many reports (as the HTML page reads them) answer as the rollups do.
      const once = materializeGroups(db, f);
      for (const [name, report] of Object.entries(REPORTS)) {
        const fromFlows = JSON.stringify(report(db, { ...f, fromFlows: true }));
        const fromRollups = JSON.stringify(report(db, f));
        expectSame(fromRollups, fromFlows, `${name} ${JSON.stringify(f)}`);
        if (name !== 'html') expectSame(JSON.stringify(report(db, once)), fromRollups, `${name} ${JSON.stringify(f)}, groups read once`);
        compared++;
      }
      dropGroups(db, once);
    }
    // host ADDR for the busiest hosts, with and without a time filter.
    const hosts = db.prepare('SELECT address FROM (SELECT client AS address FROM flows UNION ALL SELECT server FROM flows) GROUP BY address ORDER BY count(*) DESC, address LIMIT 3').pluck().all() as string[];
    for (const h of hosts) {
      for (const f of [{}, filtersFor(db)[1]]) {
        const story = hostStory(db, h, f, 10, rules);
        expectSame(JSON.stringify(story), JSON.stringify(hostStory(db, h, { ...f, fromFlows: true }, 10, rules)), `host ${h} ${JSON.stringify(f)}`);
        // What a capped list says it left out is what the uncapped list has beyond the cap.
        const whole = hostStory(db, h, f, 1_000_000, rules);
        for (const list of ['serves', 'uses', 'peers'] as const) {
          expect(story[list]).toEqual(whole[list].slice(0, 10));
          expect(story.omitted[list], `host ${h} ${list} left out`).toBe(Math.max(0, whole[list].length - 10));
        }
        compared++;
      }
      // Through the findings' index (a host on more flows than have findings) as through the addresses'.
      expect(hostProtection(db, rules, h, { flows: Number.MAX_SAFE_INTEGER })).toEqual(hostProtection(db, rules, h));
    }
  } finally {
    db.close();
  }
  return compared;
}

/** How many rollup rows a filter's time cuts, of how many rows. */
function cutRows(file: string, since: number): { cut: number; rows: number } {
  const db = openDb(file, { create: false });
  try {
    return db.prepare('SELECT sum(min_last_ts < ? AND last_ts >= ?) AS cut, count(*) AS rows FROM rollup_view').get(since, since) as { cut: number; rows: number };
  } finally {
    db.close();
  }
}

const analyze = (args: string[]) => {
  const r = runCli(['analyze', ...args, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
};

describe.runIf(HAVE_SHARED)('rollups answer as the flows do', () => {
  const dir = tmpDir();
  const dbs: Record<string, string> = {};

  beforeAll(async () => {
    dbs.public = path.join(dir, 'public.sqlite');
    analyze([shared('public'), '--db', dbs.public]);
    dbs.lab = path.join(dir, 'lab.sqlite');
    analyze([shared('lab', 'lab-ad-epm.pcap'), ...fs.readdirSync(shared('lab-exchange')).filter((f) => f.endsWith('.pcap') && !f.includes('snap96')).map((f) => shared('lab-exchange', f)), '--db', dbs.lab]);
    dbs.labInventory = path.join(dir, 'lab-inventory.sqlite');
    fs.copyFileSync(dbs.lab, dbs.labInventory);
    const audit = runCli(['audit', '--db', dbs.labInventory, '--inventory', path.join(ROOT, 'test', 'fixtures', 'exchange-lab', 'inventory.yaml')]);
    expect(audit.code, audit.stderr).toBe(0);
    dbs.sample = path.join(dir, 'sample.sqlite');
    analyze([path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', dbs.sample, '--inventory', path.join(ROOT, 'samples', 'inventory.yaml')]);
    // An organisation's short flows over about four hours (a frame every 0.5 s): most hours whole.
    const day = path.join(dir, 'org-hours.pcap');
    await writeOrgDay(day, { packets: 30_000, shortPercent: 100, clients: 300, concurrent: 60, paceUs: 500_000, templates: defaultTemplates(ROOT) });
    dbs.generated = path.join(dir, 'generated.sqlite');
    analyze([day, '--db', dbs.generated]);
    // Connections open across hours (make-long-flows.sh: the lab capture's packets a minute apart).
    dbs.longFlows = path.join(dir, 'long-flows.sqlite');
    analyze([path.join(ROOT, 'test', 'fixtures', 'rollups', 'long-flows.pcap'), '--db', dbs.longFlows]);
  }, 300_000);

  it('flow_rollup is the flows added up, in every database', () => {
    for (const file of Object.values(dbs)) expectRollupsRight(file);
  });

  it('a time filter inside an hour cuts some rollup rows and leaves the rest whole', () => {
    const db = openDb(dbs.generated, { create: false });
    const span = db.prepare('SELECT min(first_sec) AS a, max(last_sec) AS b FROM flows').get() as { a: number; b: number };
    db.close();
    expect(span.b - span.a).toBeGreaterThan(3 * BUCKET_SECONDS);
    const c = cutRows(dbs.generated, Math.floor((span.a + span.b) / 2) + 0.4375);
    expect(c.cut).toBeGreaterThan(0);
    expect(c.cut).toBeLessThan(c.rows / 4);
  });

  it('a --since after an hour ended still counts that hour\'s flows that end after it, and an --until the next hour\'s flows', () => {
    const db = openDb(dbs.longFlows, { create: false });
    try {
      // The flows that cross an hour's end, and a minute after each such end.
      const crossing = db.prepare(`SELECT first_sec - first_sec % ${BUCKET_SECONDS} + ${BUCKET_SECONDS} AS edge FROM flows WHERE last_sec >= first_sec - first_sec % ${BUCKET_SECONDS} + ${BUCKET_SECONDS} + 60`).pluck().all() as number[];
      expect(crossing.length).toBeGreaterThan(1);
      let compared = 0;
      for (const edge of new Set(crossing)) {
        for (const f of [{ since: edge + 60 }, { since: edge + 60.5, until: edge + 1800 }, { until: edge - 1 }]) {
          const rows = (o: FlowFilter) => JSON.stringify([REPORTS.summary, REPORTS.roles, REPORTS.unexpected, REPORTS.services, REPORTS.html].map((r) => r(db, o)));
          expectSame(rows(f), rows({ ...f, fromFlows: true }), JSON.stringify(f));
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(2);
    } finally {
      db.close();
    }
  });

  it('a flow whose last packet came before its first: the timeline of a --since between the two leaves it out', () => {
    // A capture out of order: X's answer is stamped 0.4 s before its question. A --since between the
    // two selects none of X; the minute X began in holds only flows that began after the --since, so
    // only the flows themselves (or the hour's earliest last packet) can tell. Twice: in an hour with
    // an earlier flow, and in an hour of its own.
    const hour = 1_700_000_000 - (1_700_000_000 % BUCKET_SECONDS) + BUCKET_SECONDS;
    const us = (s: number) => Math.round(s * 1e6);
    const dns = (n: number) => Buffer.from(`question ${n}`);
    const server = { ip: '10.1.0.9', port: 53 };
    const frames: TimedFrame[] = [];
    const flow = (client: number, question: number, answer: number) => {
      const c = { ip: `10.1.0.${client}`, port: 40000 + client };
      frames.push({ tsUs: us(question), data: frame('udp', c, server, dns(client)) }, { tsUs: us(answer), data: frame('udp', server, c, dns(client)) });
    };
    const edges: number[] = [];
    for (const h of [hour, hour + BUCKET_SECONDS]) {
      const minute = h + 600;
      if (h === hour) flow(1, minute - 120, minute - 119.9);
      flow(h === hour ? 2 : 5, minute + 30.5, minute + 30.1);
      flow(h === hour ? 3 : 6, minute + 40, minute + 40.2);
      flow(h === hour ? 4 : 7, minute + 400, minute + 400.3);
      edges.push(minute + 30.3);
    }
    const file = path.join(dir, 'out-of-order.pcapng');
    fs.writeFileSync(file, pcapngBytes(frames));
    const dbFile = path.join(dir, 'out-of-order.sqlite');
    analyze([file, '--db', dbFile]);
    const db = openDb(dbFile, { create: false });
    try {
      expect(db.prepare('SELECT count(*) FROM flows f WHERE f.last_sec * 1000000000 + f.last_nsec < f.first_sec * 1000000000 + f.first_nsec').pluck().get()).toBe(2);
      for (const f of [{ since: edges[0] }, { since: edges[1] }, { since: edges[0], until: edges[1] + 5 }, { until: edges[0] }]) {
        const rows = (o: FlowFilter) => JSON.stringify([REPORTS.html, REPORTS.summary].map((r) => r(db, o)));
        expectSame(rows(f), rows({ ...f, fromFlows: true }), JSON.stringify(f));
      }
    } finally {
      db.close();
    }
  });

  for (const name of ['public', 'lab', 'labInventory', 'sample', 'generated', 'longFlows']) {
    it(`every report, every filter: the same answer from rollups and from flows (${name})`, () => {
      expect(compareAll(dbs[name])).toBeGreaterThan(100);
    }, 240_000);
  }

  it('every format of the CLI gives the same text from rollups and from flows (lab, inventory)', () => {
    const db = dbs.labInventory;
    const reports = ['summary', 'roles', 'matrix', 'unexpected', 'services', 'encryption', 'protection'];
    // Every report in table and CSV (JSON is what the library comparison above compares); one in Markdown and JSON too.
    for (const report of reports) {
      for (const format of report === 'summary' ? ['table', 'csv', 'md', 'json'] : ['table', 'csv']) {
        const a = runCli(['report', report, '--db', db, '--format', format]);
        const b = runCli(['report', report, '--db', db, '--format', format, '--from-flows']);
        expect(a.code, a.stderr).toBe(0);
        expect(a.stdout, `${report} ${format}`).toBe(b.stdout);
      }
    }
    const fw = ['report', 'firewall', '--db', db, '--format', 'nftables'];
    expect(runCli(fw).stdout).toBe(runCli([...fw, '--from-flows']).stdout);
  }, 240_000);

  it('flows changed in place: a row they were all of moves, one they were part of is made again, a missing one has its hour made again', () => {
    // The generated organisation's hours: rows of one flow and of many. Each change is what the
    // registry does (a new name); the rollups, run totals and sensor totals must stay the flows' sums.
    const file = path.join(dir, 'changed.sqlite');
    fs.copyFileSync(dbs.generated, file);
    const db = openDb(file, { create: false });
    const rename = db.prepare("UPDATE flows SET service = 'windows-admin-rpc', via = 'epm', via_registry = 1 WHERE id = ?");
    const change = (ids: number[]) => db.transaction(() => changingFlows(db, ids, () => ids.forEach((id) => rename.run(id))))();
    const rowOf = (first: string) => `SELECT r.first_id AS id, r.flows FROM flow_rollup r JOIN flows f ON f.id = r.first_id WHERE r.flows ${first} AND r.service != 'windows-admin-rpc' ORDER BY r.first_id LIMIT 1`;
    try {
      // All of a row's flows (a row of one flow), then some of a row's (the earliest flow of a row of many).
      const single = db.prepare(rowOf('= 1')).get() as { id: number };
      const many = db.prepare(rowOf('> 2')).get() as { id: number; flows: number };
      expect(single && many).toBeTruthy();
      change([single.id]);
      change([many.id]);
      // A row missing (a database damaged or edited by hand): the changed flow's hour is made again from its flows.
      const lacking = db.prepare(rowOf('> 2')).get() as { id: number };
      expect(db.prepare('DELETE FROM flow_rollup WHERE first_id = ?').run(lacking.id).changes).toBe(1);
      change([lacking.id]);
    } finally {
      db.close();
    }
    expectRollupsRight(file);
  });

  it('a live run adds each commit to the rows the commits before made', async () => {
    // The generated hours from a pipe, in three parts a commit apart: a client's rows of an
    // hour are merged into again by each later commit.
    const bytes = fs.readFileSync(path.join(dir, 'org-hours.pcap'));
    const file = path.join(dir, 'live.sqlite');
    const child = spawn(process.execPath, [CLI, 'analyze', '-', '--db', file, '--flush-interval', '1', '--idle-timeout', '5', '--quiet'], { stdio: ['pipe', 'ignore', 'pipe'] });
    const exit = new Promise<number | null>((resolve) => child.on('close', resolve));
    const committed = () => {
      try {
        const db = openDb(file, { create: false, readonly: true });
        const n = db.prepare('SELECT coalesce(sum(flows), 0) FROM flow_rollup').pluck().get() as number;
        db.close();
        return n;
      } catch {
        return 0;
      }
    };
    const third = Math.floor(bytes.length / 3);
    child.stdin.write(bytes.subarray(0, third));
    expect(await waitFor(() => committed() > 0)).toBe(true);
    const first = committed();
    child.stdin.write(bytes.subarray(third, 2 * third));
    expect(await waitFor(() => committed() > first)).toBe(true);
    // While the run is live (no totals without the hour yet), reports count its committed flows from its hourly rows.
    const live = openDb(file, { create: false, readonly: true });
    live.exec('BEGIN');
    const fromRollups = summaryReport(live, {}).totals.flows;
    expect(fromRollups).toBeGreaterThan(0);
    expect(fromRollups).toBe(summaryReport(live, { fromFlows: true }).totals.flows);
    expect(live.prepare('SELECT count(*) FROM flow_rollup_run').pluck().get(), JSON.stringify(live.prepare('SELECT id, status, live FROM runs').all())).toBe(0);
    live.exec('COMMIT');
    live.close();
    child.stdin.end(bytes.subarray(2 * third));
    expect(await exit).toBe(0);
    expectRollupsRight(file);
    // Some rows were merged into by a later commit (their flows span the parts).
    const db = openDb(file, { create: false });
    expect(db.prepare('SELECT count(*) FROM flow_rollup WHERE flows > 1').pluck().get()).toBeGreaterThan(0);
    db.close();
  }, 120_000);

  it('stays right after --force, a new inventory, an interrupted run and a merge', () => {
    const file = path.join(dir, 'life.sqlite');
    analyze([shared('lab', 'lab-ad-epm.pcap'), '--db', file]);
    const before = fs.readFileSync(file).length;
    expect(before).toBeGreaterThan(0);
    // --force replaces the run: its rows go, the new run's come.
    analyze([shared('lab', 'lab-ad-epm.pcap'), '--db', file, '--force']);
    expectRollupsRight(file);
    // An audit rewrites roles and verdicts, never the rollup rows.
    const rowsOf = () => {
      const db = openDb(file, { create: false });
      const r = JSON.stringify(db.prepare('SELECT * FROM flow_rollup ORDER BY run_id, bucket, client, server, server_port, service').raw().all(), (_k, v) => (typeof v === 'bigint' ? String(v) : v));
      db.close();
      return r;
    };
    const rows = rowsOf();
    const audit = runCli(['audit', '--db', file, '--inventory', path.join(ROOT, 'test', 'fixtures', 'exchange-lab', 'inventory.yaml')]);
    expect(audit.code, audit.stderr).toBe(0);
    expect(rowsOf()).toBe(rows);
    // A second capture whose mapper answers rename the first run's flows (the registry): rows made again.
    analyze([shared('lab-exchange', 'focus-epm-drsuapi-dc.pcap'), '--db', file]);
    expectRollupsRight(file);
    // Another sensor's run, then the second run of the first sensor replaced while its first stays:
    // that sensor's totals lose the replaced run's keys alone, the other sensor's are untouched.
    analyze([shared('lab-exchange', 'focus-epm-winreg-mbx.pcap'), '--db', file, '--sensor', 'branch-span']);
    expectRollupsRight(file);
    analyze([shared('lab-exchange', 'focus-epm-drsuapi-dc.pcap'), '--db', file, '--force']);
    expectRollupsRight(file);
    {
      const db = openDb(file, { create: false });
      const sensors = db.prepare("SELECT coalesce(sensor, '') AS sensor, count(*) AS runs FROM runs WHERE status = 'complete' GROUP BY 1 ORDER BY 1").all() as { sensor: string; runs: number }[];
      db.close();
      expect(sensors.map((x) => x.sensor)).toContain('branch-span');
      expect(sensors.length).toBe(2);
      expect(Math.max(...sensors.map((x) => x.runs))).toBe(2);
    }
    expect(compareAll(file)).toBeGreaterThan(100);
    // A later run's mapper answer names an earlier run's flow (make-renamed-later.sh): the earlier
    // run's rows, and its sensor's totals for the keys the flow left and took, made again.
    const renamed = path.join(dir, 'renamed.sqlite');
    const fixture = (name: string) => path.join(ROOT, 'test', 'fixtures', 'rollups', name);
    analyze([fixture('dynamic-port-cut.pcap'), '--db', renamed]);
    analyze([fixture('mapper-answer.pcap'), '--db', renamed]);
    {
      const db = openDb(renamed, { create: false });
      const flow = db.prepare('SELECT f.service, f.via, c.run_id FROM flows f JOIN captures c ON c.id = f.capture_id WHERE f.server_port = 49152').get();
      db.close();
      expect(flow).toEqual({ service: 'windows-admin-rpc', via: 'epm', run_id: 1 });
    }
    expectRollupsRight(renamed);
    // A run that did not finish counts in no report, from the rollups as from the flows.
    const cut = path.join(dir, 'interrupted.sqlite');
    fs.copyFileSync(file, cut);
    const db = openDb(cut, { create: false });
    const total = (f: FlowFilter) => summaryReport(db, f).totals.flows;
    const all = total({});
    db.prepare("UPDATE runs SET status = 'interrupted' WHERE id = (SELECT max(id) FROM runs)").run();
    expect(total({})).toBeLessThan(all);
    expect(total({})).toBe(total({ fromFlows: true }));
    db.close();
    // Merged into another database: the runs' rows come with their flows.
    const merged = path.join(dir, 'merged.sqlite');
    analyze([shared('lab-exchange', 'focus-epm-winreg-mbx.pcap'), '--db', merged]);
    const m = runCli(['merge', file, '--db', merged]);
    expect(m.code, m.stderr).toBe(0);
    expectRollupsRight(merged);
    expect(compareAll(merged)).toBeGreaterThan(100);
  }, 240_000);
});
