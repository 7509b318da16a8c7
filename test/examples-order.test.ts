// Examples are the flows' own "first seen" order — their earliest first packet, then their text —
// not the order their ids were given (the order flows were written: when they ended, or the order
// another database merged them or an engine holds them). Invariant: the same flows under other ids
// give every report the same examples. Made on the shared public captures, whose flows end in
// another order than they begin.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { HAVE_SHARED, runCli, shared, tmpDir } from './helpers';

const REPORTS = [
  ['report', 'unexpected'],
  ['report', 'encryption'],
  ['report', 'protection'],
];

describe.skipIf(!HAVE_SHARED)('examples in the order first seen, whatever the ids', () => {
  it('the same flows with their ids reversed give every report the same examples', () => {
    const dir = tmpDir();
    const db = path.join(dir, 'a.sqlite');
    expect(runCli(['analyze', shared('public'), '--db', db]).code).toBe(0);
    const reversed = path.join(dir, 'reversed.sqlite');
    fs.copyFileSync(db, reversed);
    const d = new Database(reversed);
    // The ids in the other order: the last flow written is now the first. Read from the flows
    // (--from-flows: a group a flow, its id its own), as the rollups were made from them.
    const max = d.prepare('SELECT max(id) FROM flows').pluck().get() as number;
    d.exec(`UPDATE flows SET id = -id; UPDATE flows SET id = ${max + 1} + id`);
    d.close();
    const orders = new Database(db, { readonly: true });
    // The ids and the first packets disagree somewhere, else this test could not fail.
    const disagree = orders.prepare('SELECT count(*) FROM flows a JOIN flows b ON a.id < b.id WHERE a.first_sec * 1000000000 + a.first_nsec > b.first_sec * 1000000000 + b.first_nsec').pluck().get() as number;
    orders.close();
    expect(disagree).toBeGreaterThan(0);
    const host = runCli(['hosts', '--db', db, '--format', 'json']);
    const busiest = (JSON.parse(host.stdout) as { address: string; flows?: number }[])[0].address;
    let examples = 0;
    for (const args of [...REPORTS, ['host', busiest]]) {
      const a = runCli([...args, '--db', db, '--format', 'json']);
      const b = runCli([...args, '--db', reversed, '--format', 'json', '--from-flows']);
      const c = runCli([...args, '--db', db, '--format', 'json', '--from-flows']);
      expect(a.code, a.stderr).toBe(0);
      expect(c.stdout, `${args.join(' ')}: from the flows as from the rollups`).toBe(a.stdout);
      expect(b.stdout, `${args.join(' ')}: the ids reversed`).toBe(a.stdout);
      examples += (a.stdout.match(/"examples":\s*\[\s*"/g) ?? []).length;
    }
    expect(examples).toBeGreaterThan(5);
  });
});
