// Databases written before runs existed (schema 3, made by the previous exflow from
// the sample with its inventory: test/fixtures/schema3-sample.sqlite) are upgraded in
// place: their captures become one complete run, every report still shows them, and
// analyze goes on adding runs.
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HAVE_SHARED, runCli, shared, tmpDir } from './helpers';
import { SCHEMA_VERSION } from '../src/store/schema';

const FIXTURE = path.join(__dirname, 'fixtures', 'schema3-sample.sqlite');
/** Schema 23's tables gone (sensors' totals, hours' ends), for a database made now to stand for an older one. */
const DROP_SENSOR_TOTALS = 'DROP TABLE flow_rollup_sensor; DROP TABLE rollup_sensor_runs; DROP TABLE flow_hours';

describe('a schema 3 database', () => {
  it('is upgraded by the first reader, keeps its 26 flows and verdicts, and takes new runs', () => {
    const db = path.join(tmpDir(), 'old.sqlite');
    fs.copyFileSync(FIXTURE, db);
    const before = new Database(db, { readonly: true });
    expect(before.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe('3');
    const verdicts = before.prepare('SELECT verdict, count(*) AS n FROM flows GROUP BY verdict ORDER BY verdict').all();
    // Schema 21 renamed the role outlook-2007 (and so the rules naming it) outlook: every other word is kept.
    const renamed = (v: unknown) => (typeof v === 'string' ? v.replace(/(?<![a-z0-9.-])outlook-2007(?![a-z0-9.-])/g, 'outlook') : v);
    const judged = (before.prepare('SELECT id, client_role, server_role, verdict, rule, reason FROM flows ORDER BY id').all() as Record<string, unknown>[]).map((r) =>
      Object.fromEntries(Object.entries(r).map(([k, v]) => [k, renamed(v)])),
    );
    expect(JSON.stringify(judged)).toMatch(/"2010:outlook>client-access"/);
    before.close();

    const s = runCli(['report', 'summary', '--db', db, '--format', 'json']);
    expect(s.code, s.stderr).toBe(0);
    // Said before it starts (an upgrade reads every flow) and when it is done.
    expect(s.stderr).toMatch(new RegExp(`exflow: upgrading .*old\\.sqlite from schema 3 to ${SCHEMA_VERSION} \\(about 26 flows; [^\n]*\\n.*exflow: upgraded .*old\\.sqlite to schema ${SCHEMA_VERSION} in \\d+\\.\\d s`, 's'));
    expect(runCli(['report', 'summary', '--db', db]).stderr).not.toMatch(/upgrad/);
    const summary = JSON.parse(s.stdout);
    expect(summary.totals.flows).toBe(26);
    expect(summary.captures).toHaveLength(1);
    const runs = JSON.parse(runCli(['runs', '--db', db, '--format', 'json']).stdout);
    expect(runs).toMatchObject([{ run: 1, status: 'complete', command: 'before runs were recorded', captures: 1, flows: 26 }]);

    const after = new Database(db, { readonly: true });
    expect(after.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe(String(SCHEMA_VERSION));
    // Schema 5's payload columns exist, empty for the old flows (their payload was not read for them).
    expect(after.prepare('SELECT count(*) FROM flows WHERE tls IS NULL AND http_app IS NULL').pluck().get()).toBe(26);
    expect(after.pragma('application_id', { simple: true })).toBe(0x6578666c);
    expect(after.prepare('SELECT verdict, count(*) AS n FROM flow_view GROUP BY verdict ORDER BY verdict').all()).toEqual(verdicts);
    // Schema 6: verdicts are rows per key, joined in by the views; every flow keeps its own.
    expect(after.prepare('SELECT id, client_role, server_role, verdict, rule, reason FROM flow_view ORDER BY id').all()).toEqual(judged);
    expect(after.prepare("SELECT count(*) FROM pragma_table_info('flows') WHERE name IN ('verdict', 'reason', 'client_role')").pluck().get()).toBe(0);
    expect(after.prepare('SELECT count(*) FROM verdicts').pluck().get()).toBeLessThan(26);
    expect(after.prepare('SELECT count(*) FROM flows WHERE last_capture_id = capture_id').pluck().get()).toBe(26);
    // Schema 8: the protection audit's columns, empty for flows read before it existed (no finding is invented for them).
    expect(after.prepare('SELECT count(*) FROM flows WHERE auth_mech IS NULL AND rpc_auth_level IS NULL AND protection IS NULL').pluck().get()).toBe(26);
    // Schema 17: the flows by the minute they started, built from the flows once.
    expect(after.prepare('SELECT sum(flows) AS flows, sum(bytes) AS bytes FROM flow_minutes').get()).toEqual(
      after.prepare('SELECT count(*) AS flows, sum(bytes_c2s + bytes_s2c) AS bytes FROM flows').get(),
    );
    after.close();

    if (!HAVE_SHARED) return;
    const a = runCli(['analyze', shared('lab', 'lab-ad-epm.pcap'), '--db', db, '--quiet']);
    expect(a.code, a.stderr).toBe(0);
    expect(JSON.parse(runCli(['report', 'summary', '--db', db, '--format', 'json']).stdout).totals.flows).toBe(46);
    // The capture that database was made from (the sample as it was then) again: the same file as the old run's capture (fingerprint), skipped.
    const again = runCli(['analyze', path.join(__dirname, 'fixtures', 'schema3-sample.pcapng'), '--db', db]);
    expect(again.stderr).toMatch(/already analyzed as capture 1 .* in run 1; skipped/);
  });
});

describe('a schema 18 database whose reasons spell out every rule', () => {
  it('is upgraded to the short reasons and full details the audit now writes', () => {
    // Hosts with several roles each: between them the matrix has many rules, which a reason used to name all of.
    const dir = tmpDir();
    const inventory = path.join(dir, 'multi.yaml');
    fs.writeFileSync(
      inventory,
      fs
        .readFileSync(path.join(__dirname, '..', 'samples', 'inventory.yaml'), 'utf8')
        .replace(/roles: \[mailbox\]/g, 'roles: [mailbox, client-access, hub-transport, unified-messaging]')
        .replace('roles: [domain-controller, dns-server]', 'roles: [domain-controller, dns-server, edge-transport]'),
    );
    const db = path.join(dir, 'multi.sqlite');
    const a = runCli(['analyze', path.join(__dirname, '..', 'samples', 'exchange-org.pcapng'), '--db', db, '--inventory', inventory, '--quiet']);
    expect(a.code, a.stderr).toBe(0);
    const read = (d: Database.Database) => d.prepare('SELECT cr, sr, service, transport, port, cv, sv, verdict, reason, detail FROM verdicts ORDER BY cr, sr, service, transport, port, cv, sv').all() as Record<string, string | null>[];
    const now = new Database(db);
    const judged = read(now);
    const counted = judged.filter((v) => /\(\d+ (services allowed by \d+ )?rules?\)$/.test(String(v.reason)));
    expect(counted.length).toBeGreaterThan(0);
    for (const v of judged) expect(String(v.reason).length).toBeLessThan(260);
    // The database as schema 18 wrote it: every list in the reason, no detail column.
    const put = now.prepare('UPDATE verdicts SET reason = ? WHERE cr = ? AND sr = ? AND service = ? AND transport = ? AND port = ? AND cv = ? AND sv = ?');
    let longest = 0;
    for (const v of judged) {
      if (v.detail === null) continue;
      const list = String(v.detail).replace(/^allowed: /, '').replace('; rules: ', '; ').replace(/^rules: /, '');
      const old = String(v.reason).replace(/\([^()]*\)$/, `(${list})`);
      longest = Math.max(longest, old.length);
      put.run(old, v.cr, v.sr, v.service, v.transport, v.port, v.cv, v.sv);
    }
    expect(longest).toBeGreaterThan(300);
    for (const v of now.prepare("SELECT name FROM sqlite_master WHERE type = 'view'").pluck().all()) now.exec(`DROP VIEW "${v}"`);
    now.exec(`ALTER TABLE verdicts DROP COLUMN detail; ALTER TABLE hosts DROP COLUMN served_to; ${DROP_SENSOR_TOTALS}; UPDATE meta SET value = '18' WHERE key = 'schema_version'`);
    now.close();
    const s = runCli(['report', 'unexpected', '--db', db, '--format', 'json']);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/upgraded .* to schema/);
    const after = new Database(db, { readonly: true });
    expect(read(after)).toEqual(judged);
    after.close();
    // The report: the short reason, the full list beside it in JSON.
    const rows = JSON.parse(s.stdout) as { reason: string; reason_detail: string | null }[];
    const withList = rows.filter((r) => r.reason_detail !== null);
    expect(withList.length).toBeGreaterThan(0);
    for (const r of withList) expect(r.reason_detail).toMatch(/rules: \d{4}:/);
  });
});

describe('a schema 20 database from before the role outlook-2007 became outlook', () => {
  it('is upgraded to exactly the roles, rules and reasons the audit now writes', () => {
    // The rules as they were: the shipped files that name the role, with its old id (a rules
    // folder replaces shipped files by name), so the old exflow's database is made here.
    const dir = tmpDir();
    const oldRules = path.join(dir, 'rules-20');
    fs.mkdirSync(oldRules);
    const rulesDir = path.join(__dirname, '..', 'rules');
    for (const f of ['roles.yaml', 'matrix-2007.yaml', 'matrix-2010.yaml', 'matrix-2013.yaml', 'inference.yaml']) {
      const text = fs.readFileSync(path.join(rulesDir, f), 'utf8');
      expect(text).toMatch(/(?<![a-z0-9.-])outlook(?![a-z0-9.-])/);
      fs.writeFileSync(path.join(oldRules, f), text.replace(/(?<![a-z0-9.-])outlook(?![a-z0-9.-])/g, 'outlook-2007').replace(/^\s+aliases: \[outlook-2007\]\n/m, ''));
    }
    // A site's own rule between the clients and the mailbox servers, in both runs (it names the
    // role by its old id, which the new rules still read): the rdp flow's reason then lists 128
    // characters of services and rules with the old ids (counted) and 113 with the new (spelt out).
    const site = path.join(dir, 'site');
    fs.mkdirSync(site);
    const siteRule = 'matrix:\n  - id: "site:o2m"\n    versions: ["2010"]\n    from: outlook-2007\n    to: mailbox\n    services: [msrpc-epm]\n    cite: ["the site\'s own firewall policy"]\n';
    for (const d of [oldRules, site]) fs.writeFileSync(path.join(d, 'site-outlook.yaml'), siteRule);
    // Clients with several roles (long rule lists in the reasons), and one inventory for both: the
    // old id is what the old rules know, and what the new ones still read. Without versions every
    // table applies.
    const inventory = path.join(dir, 'inventory.yaml');
    fs.writeFileSync(
      inventory,
      fs
        .readFileSync(path.join(__dirname, '..', 'samples', 'inventory.yaml'), 'utf8')
        .replace(/roles: \[outlook\]/g, 'roles: [outlook-2007]')
        .replace('2001:db8:20::/64\n    roles: [outlook-2007]', '2001:db8:20::/64\n    roles: [outlook-2007, outlook-2003, other-clients]')
        .replace(/\n +version: "2010"/g, ''),
    );
    const sample = path.join(__dirname, '..', 'samples', 'exchange-org.pcapng');
    const before = path.join(dir, 'before.sqlite');
    const now = path.join(dir, 'now.sqlite');
    for (const [db, extra] of [[before, ['--rules', oldRules]], [now, ['--rules', site]]] as const) {
      const a = runCli(['analyze', sample, '--db', db, '--inventory', inventory, '--quiet', ...extra]);
      expect(a.code, a.stderr).toBe(0);
    }
    const verdicts = (d: Database.Database) =>
      d.prepare('SELECT cr, sr, service, transport, port, cv, sv, client_role, server_role, verdict, rule, reason, detail, cite, encryption FROM verdicts ORDER BY cr, sr, service, transport, port, cv, sv').all();
    const hosts = (d: Database.Database) => d.prepare('SELECT address, roles, evidence, disagreement FROM hosts ORDER BY address').all();
    const inventoryRoles = (d: Database.Database) => d.prepare('SELECT address, roles FROM inventory ORDER BY address').all();
    const old = new Database(before);
    const oldVerdicts = verdicts(old) as { reason: string; rule: string | null }[];
    expect(oldVerdicts.some((v) => /outlook-2007/.test(v.reason))).toBe(true);
    expect(oldVerdicts.some((v) => /^\d{4}:outlook-2007>/.test(String(v.rule)))).toBe(true);
    const counted = (v: { reason: string }) => /\(\d+ (services allowed by \d+ )?rules?\)$/.test(v.reason);
    expect(oldVerdicts.some(counted)).toBe(true);
    // The reason the new ids shorten enough to spell out again.
    const rdp = (vs: unknown[]) => (vs as { service: string; reason: string }[]).find((v) => v.service === 'rdp')!;
    expect(counted(rdp(oldVerdicts))).toBe(true);
    // Schema 20 had no hosts.served_to (22) and no sensors' totals (23).
    for (const v of old.prepare("SELECT name FROM sqlite_master WHERE type = 'view'").pluck().all()) old.exec(`DROP VIEW "${v}"`);
    old.exec(`ALTER TABLE hosts DROP COLUMN served_to; ${DROP_SENSOR_TOTALS}; UPDATE meta SET value = '20' WHERE key = 'schema_version'`);
    old.close();
    const s = runCli(['report', 'summary', '--db', before]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(new RegExp(`upgraded .* to schema ${SCHEMA_VERSION}`));
    const [a, b] = [new Database(before, { readonly: true }), new Database(now, { readonly: true })];
    // The inventory's source names its file and line alike in both; evidence too.
    expect(verdicts(a)).toEqual(verdicts(b));
    expect(hosts(a)).toEqual(hosts(b));
    expect(inventoryRoles(a)).toEqual(inventoryRoles(b));
    expect(JSON.stringify(verdicts(a))).not.toMatch(/outlook-2007/);
    expect(rdp(verdicts(a)).reason).toMatch(/between outlook → mailbox \([^()]*, site:o2m, [^()]*\)$/);
    a.close();
    b.close();
  });
});
