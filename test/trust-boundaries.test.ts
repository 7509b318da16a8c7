// Databases exflow is handed, paths it writes, read-only media: each case of the
// trust-boundary campaign rebuilt, with the exit code and message the README documents.
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT, runCli, tmpDir } from './helpers';

const SAMPLE = path.join(ROOT, 'samples', 'exchange-org.pcapng');
const INVENTORY = path.join(ROOT, 'samples', 'inventory.yaml');
const IS_ROOT = process.getuid?.() === 0;
const CAN_MOUNT = IS_ROOT && spawnSync('unshare', ['-m', 'true'], { stdio: 'ignore' }).status === 0;
const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

/** A fresh database of the sample, copied for each case that tampers with it. */
function sampleDb(dir: string, name = 'base.sqlite'): string {
  const db = path.join(dir, name);
  const r = runCli(['analyze', SAMPLE, '--db', db, '--inventory', INVENTORY, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
  return db;
}

function tampered(dir: string, base: string, name: string, sql: string): string {
  const db = path.join(dir, name);
  fs.copyFileSync(base, db);
  const d = new Database(db);
  d.exec(sql);
  d.close();
  return db;
}

describe('a database you are handed is input', () => {
  const dir = tmpDir();
  const base = sampleDb(dir);

  it('a trigger planted in it: analyze refuses it (exit 3, the trigger named), the trigger never runs, the file is untouched', () => {
    const db = tampered(dir, base, 'trigger.sqlite', "CREATE TABLE pwned (x); CREATE TRIGGER t_evil AFTER INSERT ON flows BEGIN INSERT INTO pwned VALUES (1); END;");
    const before = sha(db);
    const r = runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', db, '--force', '--quiet']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/holds (table "pwned"|trigger "t_evil")/);
    expect(r.stderr).toMatch(/refused and left untouched/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(sha(db)).toBe(before);
    const d = new Database(db, { readonly: true });
    expect(d.prepare('SELECT count(*) FROM pwned').pluck().get()).toBe(0);
    d.close();
    // Every reading command refuses it too.
    for (const args of [['flows'], ['report', 'summary'], ['hosts'], ['audit']]) {
      const x = runCli([...args, '--db', db]);
      expect(x.code, args.join(' ')).toBe(3);
    }
  });

  it('flow_view replaced by an endless recursive query: flows refuses at once (exit 3) instead of hanging', () => {
    const db = tampered(dir, base, 'loop.sqlite', 'DROP VIEW flow_view; CREATE VIEW flow_view AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i AS id FROM n;');
    const t0 = Date.now();
    const r = runCli(['flows', '--db', db]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/view "flow_view" altered/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('load_extension in a view: refused by name (exit 3), not "internal error"', () => {
    const db = tampered(dir, base, 'ext.sqlite', "CREATE VIEW sneaky AS SELECT load_extension('/tmp/x.so') AS x;");
    const r = runCli(['report', 'summary', '--db', db]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/holds view "sneaky"/);
    expect(r.stderr).not.toMatch(/internal error/);
  });

  it('a column added to a table (a generated one calling a function) and an index on an expression: refused', () => {
    const a = tampered(dir, base, 'col.sqlite', "ALTER TABLE hosts ADD COLUMN evil TEXT GENERATED ALWAYS AS (upper(address)) VIRTUAL;");
    expect(runCli(['hosts', '--db', a]).stderr).toMatch(/table "hosts" altered/);
    const b = tampered(dir, base, 'idx.sqlite', 'CREATE INDEX flows_evil ON flows (lower(client));');
    const r = runCli(['hosts', '--db', b]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/holds index "flows_evil" \(on flows\)/);
  });

  it('an untouched database, and one written by an older exflow, are read as before', () => {
    expect(runCli(['flows', '--db', base, '--format', 'json']).code).toBe(0);
    const old = path.join(dir, 'schema3.sqlite');
    fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', 'schema3-sample.sqlite'), old);
    const r = runCli(['flows', '--db', old, '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).length).toBeGreaterThan(0);
  });

  it('an older database with a planted trigger is refused before its upgrade (nothing runs, nothing changes)', () => {
    const db = path.join(dir, 'schema3-trigger.sqlite');
    fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', 'schema3-sample.sqlite'), db);
    const d = new Database(db);
    d.exec('CREATE TABLE pwned (x); CREATE TRIGGER t_old AFTER UPDATE ON meta BEGIN INSERT INTO pwned VALUES (1); END;');
    d.close();
    const before = sha(db);
    const r = runCli(['flows', '--db', db]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/trigger "t_old"/);
    expect(sha(db)).toBe(before);
  });
});

describe('paths exflow writes', () => {
  const dir = tmpDir();
  const db = sampleDb(dir);

  it('--out may not name the database, its -wal/-shm, a directory or a device; `--out -` is standard output', () => {
    const before = sha(db);
    for (const out of [db, `${db}-wal`, `${db}-shm`, path.relative(ROOT, db)]) {
      for (const cmd of [['report', 'html'], ['export']]) {
        const r = runCli([...cmd, '--db', db, '--out', out]);
        expect(r.code, `${cmd.join(' ')} --out ${out}`).toBe(64);
        expect(r.stderr).toMatch(/names the database/);
      }
    }
    // A hard link to the database is the database.
    fs.linkSync(db, path.join(dir, 'alias.html'));
    expect(runCli(['report', 'html', '--db', db, '--out', path.join(dir, 'alias.html')]).stderr).toMatch(/names the database/);
    expect(sha(db)).toBe(before);
    expect(runCli(['report', 'html', '--db', db, '--out', dir]).stderr).toMatch(/is a directory/);
    expect(runCli(['export', '--db', db, '--out', '/dev/null']).stderr).toMatch(/is a device/);
    const page = runCli(['report', 'html', '--db', db, '--out', '-']);
    expect(page.code).toBe(0);
    expect(page.stdout).toMatch(/^<!doctype html>/);
    expect(fs.existsSync(path.join(ROOT, '-'))).toBe(false);
  });

  it('a symlink at --out is replaced by the report; the file it pointed to is untouched', () => {
    const victim = path.join(dir, 'victim.txt');
    fs.writeFileSync(victim, 'keep me\n');
    const link = path.join(dir, 'report.html');
    fs.symlinkSync(victim, link);
    const r = runCli(['report', 'html', '--db', db, '--out', link]);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep me\n');
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(false);
    expect(fs.readFileSync(link, 'utf8')).toMatch(/^<!doctype html>/);
    const e = path.join(dir, 'flows.ndjson');
    fs.symlinkSync(victim, e);
    expect(runCli(['export', '--db', db, '--out', e]).code).toBe(0);
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep me\n');
    expect(fs.readFileSync(e, 'utf8').split('\n')[0]).toMatch(/^\{"@timestamp"/);
  });

  it.skipIf(!CAN_MOUNT)('a full disk: exit 2, the earlier report kept whole, no temporary file left', () => {
    const full = path.join(dir, 'full');
    fs.mkdirSync(full);
    const script = [
      `mount -t tmpfs -o size=48k tmpfs '${full}'`,
      `printf 'earlier report\\n' > '${full}/r.html'`,
      `'${process.execPath}' '${CLI}' report html --db '${db}' --out '${full}/r.html'; echo "rc=$?"`,
      `cat '${full}/r.html'; ls -a '${full}'`,
    ].join('\n');
    const r = spawnSync('unshare', ['-m', 'sh', '-c', script], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/rc=2/);
    expect(r.stderr).toMatch(/--out .*r\.html: cannot write \(no space left on the device\); .*left as it was/);
    expect(r.stdout).toMatch(/^earlier report$/m);
    expect(r.stdout).not.toMatch(/\.tmp/);
  });

  it('--db naming a FIFO or a device: exit 3 at once; nothing is created beside /dev/null', () => {
    const fifo = path.join(dir, 'fifo');
    spawnSync('mkfifo', [fifo]);
    const t0 = Date.now();
    for (const args of [['flows', '--db', fifo], ['analyze', SAMPLE, '--db', fifo], ['analyze', SAMPLE, '--db', '/dev/null'], ['report', 'summary', '--db', dir]]) {
      const r = runCli(args);
      expect(r.code, args.join(' ')).toBe(3);
      expect(r.stderr).toMatch(/is a (FIFO|device|directory)/);
    }
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(fs.existsSync('/dev/null-journal')).toBe(false);
    expect(fs.existsSync('/dev/null-wal')).toBe(false);
  });

  // quiet: the input stays open and silent after the change, so that the next commit comes from the
  // reader's timer (a fault thrown there once ended the process with a stack trace, exit 1).
  for (const [how, quiet] of [['deleted', false], ['replaced', false], ['deleted', true]] as const) {
    it(`a database ${how} while analyze writes${quiet ? ' (the input quiet)' : ''}: exit 3 and a message, not a silent success`, async () => {
      const target = path.join(dir, `live-${how}${quiet ? '-quiet' : ''}.sqlite`);
      fs.copyFileSync(db, target);
      const capture = fs.readFileSync(SAMPLE);
      const child = spawn(process.execPath, [CLI, 'analyze', '-', '--db', target, '--flush-interval', '1'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (b) => (stderr += b));
      // Listened for from the start: a quiet run may end (exit 3) before its input does.
      const closed = new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
      child.stdin.on('error', () => {});
      child.stdin.write(capture.subarray(0, 4096));
      await new Promise((r) => setTimeout(r, 1500));
      if (how === 'deleted') fs.rmSync(target);
      else {
        fs.copyFileSync(db, target + '.other');
        fs.renameSync(target + '.other', target);
      }
      if (quiet) await new Promise((r) => setTimeout(r, 2500));
      child.stdin.end(capture.subarray(4096));
      const code = await closed;
      expect(code, stderr).toBe(3);
      expect(stderr).toMatch(how === 'deleted' ? /was deleted while analyze wrote to it/ : /was replaced by another file while analyze wrote to it/);
      expect(stderr).not.toMatch(/\n\s+at /);
    });
  }
});

describe.skipIf(!IS_ROOT)('read-only really read-only', () => {
  const dir = tmpDir();
  const db = sampleDb(dir);
  const ro = path.join(dir, 'ro');
  fs.mkdirSync(ro);
  fs.copyFileSync(db, path.join(ro, 'audit.sqlite'));
  fs.chmodSync(path.join(ro, 'audit.sqlite'), 0o444);
  fs.chmodSync(ro, 0o555);
  fs.chmodSync(dir, 0o755);
  const asNobody = (args: string[]) => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, ...args], { encoding: 'utf8', cwd: '/' });

  it("another user's database in a directory this user cannot write: every read command reads it; audit exits 3 and says why", () => {
    const file = path.join(ro, 'audit.sqlite');
    const want = JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout);
    const got = asNobody(['flows', '--db', file, '--format', 'json']);
    expect(got.status, got.stderr).toBe(0);
    expect(JSON.parse(got.stdout)).toEqual(want);
    for (const args of [['hosts'], ['report', 'summary'], ['report', 'matrix'], ['report', 'firewall'], ['epm'], ['export'], ['host', '10.10.0.10']]) {
      const r = asNobody([...args, '--db', file, '--format', args[0] === 'export' ? 'ndjson' : 'json']);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const a = asNobody(['audit', '--db', file]);
    expect(a.status).toBe(3);
    expect(a.stderr).toMatch(/cannot be written here \(a read-only file, directory or medium\)/);
    expect(a.stderr).not.toMatch(/internal error/);
    expect(fs.readdirSync(ro)).toEqual(['audit.sqlite']);
  });

  it.skipIf(!CAN_MOUNT)('a database on a read-only mount: read by every report; audit exits 3', () => {
    const mnt = path.join(dir, 'mnt');
    fs.mkdirSync(mnt);
    const x = `'${process.execPath}' '${CLI}'`;
    const script = [`mount --bind -o ro '${ro}' '${mnt}'`, `${x} report summary --db '${mnt}/audit.sqlite' --format json >/dev/null; echo "summary=$?"`, `${x} audit --db '${mnt}/audit.sqlite'; echo "audit=$?"`].join('\n');
    const r = spawnSync('unshare', ['-m', 'sh', '-c', script], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/summary=0/);
    expect(r.stdout).toMatch(/audit=3/);
    expect(r.stderr).toMatch(/cannot be written here/);
  });
});
