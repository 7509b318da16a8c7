// Issue 30: nothing lost, nothing forged. Each item has a test here that failed on the
// code before the issue was worked and passes after.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { HAVE_SHARED, runCli, shared, tmpDir } from './helpers';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!HAVE_SHARED)('1. one packet cannot stop an audit', () => {
  // The lab's real Kerberos exchanges (kinit against Samba) with a NUL inside the service
  // principal's first component, "krb\0gt/LAB.EXAMPLE", lengths unchanged: the bytes the
  // issue's 130-byte TGS-REQ carried. The name writer once split its keys on NUL.
  const original = shared('lab', 'lab-ad-epm.pcap');
  const bytes = fs.readFileSync(original);
  const hostile = path.join(dir, 'nul-spn.pcap');
  fs.writeFileSync(hostile, Buffer.from(bytes.toString('latin1').split('krbtgt').join('krb\0gt'), 'latin1'));

  it('the capture really carries the NUL in its principals', () => {
    expect(bytes.toString('latin1').split('krbtgt').length - 1).toBe(4);
    expect(fs.readFileSync(hostile).includes(Buffer.from('krb\0gt', 'latin1'))).toBe(true);
  });

  for (const extra of [[], ['--separate'], ['--threads', '2']]) {
    it(`analyze ${extra.join(' ')} keeps every flow and refuses the name (exit 0)`, () => {
      const db = path.join(dir, `nul${extra.join('')}.sqlite`);
      const r = runCli(['analyze', hostile, '--db', db, ...extra]);
      expect(r.code, r.stderr).toBe(0);
      const ref = path.join(dir, `ref${extra.join('')}.sqlite`);
      expect(runCli(['analyze', original, '--db', ref, ...extra]).code).toBe(0);
      const count = (f: string, sql: string) => {
        const d = new Database(f, { readonly: true });
        try {
          return d.prepare(sql).pluck().get();
        } finally {
          d.close();
        }
      };
      expect(count(db, 'SELECT count(*) FROM flows')).toBe(count(ref, 'SELECT count(*) FROM flows'));
      expect(count(db, "SELECT count(*) FROM runs WHERE status = 'complete'")).toBe(1);
      // The clean capture's principal is evidence; the one with a NUL is not kept at all.
      expect(count(ref, "SELECT count(*) FROM name_evidence WHERE kind = 'kerberos-spn' AND detail = 'krbtgt'")).toBeGreaterThan(0);
      expect(count(db, "SELECT count(*) FROM name_evidence WHERE instr(detail, char(0)) > 0 OR instr(name, char(0)) > 0")).toBe(0);
      expect(count(db, "SELECT count(*) FROM host_names WHERE instr(name, char(0)) > 0")).toBe(0);
    });
  }
});
