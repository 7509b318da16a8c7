// Issue 30, item 5: stored values are data. Apart from test/nothing-lost.test.ts (the other
// items) so that the two, each over a minute, can run side by side.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { HAVE_SHARED, ROOT, runCli, shared, tmpDir } from './helpers';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!HAVE_SHARED)('5. stored values are data: every text column hostile, every report', () => {
  // A database made from real protection captures (findings, accounts, names), then every
  // text column of every table set to one hostile value; reports must read such values as
  // empty or print them escaped (exit 0), or refuse the database in one line (exit 3).
  const base = path.join(dir, 'hostile-base.sqlite');
  const HOSTILE = ['"x', '["a","b"', '{"roles":["dc"]}', 'a,b"],["c', `]}"'\\\n\u202e\u0000`, 'x'.repeat(1 << 20)];
  const COMMANDS = [
    ['report', 'summary'], ['report', 'roles'], ['report', 'matrix'], ['report', 'unexpected'], ['report', 'encryption'],
    ['report', 'protection'], ['report', 'services'], ['report', 'epm'], ['report', 'firewall'], ['report', 'new', '--baseline', '1'],
    ['hosts'], ['host', '10.77.0.10'], ['flows'], ['runs'], ['export', '--format', 'ndjson'],
  ];

  it('the base database has findings, names and hosts to spoil', () => {
    const r = runCli(['analyze', shared('lab', 'lab-ad-epm.pcap'), path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', base, '--separate']);
    expect(r.code, r.stderr).toBe(0);
    const d = new Database(base, { readonly: true });
    expect(d.prepare('SELECT count(*) FROM flows WHERE protection IS NOT NULL').pluck().get()).toBeGreaterThan(0);
    d.close();
  });

  HOSTILE.forEach((value, k) => {
    it(`every text column = hostile value ${k} (${JSON.stringify(value.slice(0, 20))}${value.length > 20 ? '…' : ''}): every report exits 0 or 3 in one line`, () => {
      const db = path.join(dir, `hostile-${k}.sqlite`);
      fs.copyFileSync(base, db);
      const d = new Database(db);
      for (const t of d.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'meta'").pluck().all() as string[]) {
        const cols = (d.prepare(`SELECT name, type, pk FROM pragma_table_info(?)`).all(t) as { name: string; type: string; pk: number }[])
          .filter((c) => /TEXT/i.test(c.type) && c.pk === 0);
        for (const c of cols) {
          try {
            // The 1 MB value in one row of each table (every row would make gigabytes; three made each command take seconds).
            d.prepare(`UPDATE "${t}" SET "${c.name}" = ? ${value.length > 1000 ? `WHERE rowid IN (SELECT rowid FROM "${t}" LIMIT 1)` : ''}`).run(value);
          } catch {
            /* a constraint refuses it: that column cannot hold it */
          }
        }
      }
      d.close();
      for (const cmd of COMMANDS) {
        // The tables of the 1 MB value are cut (format.ts MAX_TABLE_CELL); its JSON is whole. Text
        // tables are tried with the value of controls and bidi marks (the one a table escapes); the
        // values that break JSON's quoting, in JSON (a third of the suite's minute here was tables of them).
        for (const format of cmd[0] === 'export' ? [] : value.length > 1000 || k < 4 ? ['json'] : ['json', 'table']) {
          const r = runCli([...cmd, '--db', db, '--format', format]);
          const what = `${cmd.join(' ')} --format ${format}: exit ${r.code}: ${r.stderr.slice(0, 300)}`;
          expect([0, 3], what).toContain(r.code);
          if (r.code === 3) expect(r.stderr.trim().split('\n'), what).toHaveLength(1);
          expect(r.stderr, what).not.toMatch(/internal error|\n\s+at /);
        }
        if (cmd[0] === 'export') {
          const r = runCli([...cmd, '--db', db]);
          expect([0, 3], r.stderr).toContain(r.code);
        }
      }
    });
  });
});
