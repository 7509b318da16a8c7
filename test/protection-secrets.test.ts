// No secret is stored or printed: the lab captures carry the lab's password in clear
// (HTTP Basic, SMTP AUTH PLAIN, IMAP LOGIN, POP3, an LDAP simple bind, SMB and RPC
// NTLM exchanges); the database file and every output exflow writes from it are
// searched for the password, its base64 forms and the NTLM responses tshark reads
// from the captures. With --redact-accounts no account name is left either.
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { HAVE_TSHARK, ROOT, runCli, tmpDir } from './helpers';

const LAB = path.join(ROOT, 'test', 'fixtures', 'protection');
const CAPTURES = ['rpc-auth-levels.pcap', 'ldap-binds.pcap', 'ldap-bind-cases.pcap', 'smb-sessions.pcap', 'cleartext-logins.pcap'].map((f) => path.join(LAB, f));
const PASSWORD = 'Alice-Passw0rd!';

/** The secrets as bytes to look for: the password, its base64 encodings as the clients sent them, and every NT/LM response. Read by tshark once. */
let found: Buffer[] | null = null;
function secrets(): Buffer[] {
  found ??= readSecrets();
  return found;
}

function readSecrets(): Buffer[] {
  const out = [
    Buffer.from(PASSWORD),
    Buffer.from(Buffer.from(`alice:${PASSWORD}`).toString('base64')),
    Buffer.from(Buffer.from(`\0alice@contoso.lab\0${PASSWORD}`).toString('base64')),
    Buffer.from(Buffer.from(`\0alice\0${PASSWORD}`).toString('base64')),
    Buffer.from(PASSWORD, 'utf16le'),
  ];
  if (HAVE_TSHARK) {
    for (const f of CAPTURES) {
      const r = spawnSync('tshark', ['-n', '-r', f, '-Y', 'ntlmssp.messagetype == 3', '-T', 'fields', '-e', 'ntlmssp.auth.ntresponse', '-e', 'ntlmssp.auth.lmresponse'], { encoding: 'utf8' });
      for (const hex of r.stdout.split(/[\t\n,]/)) {
        const h = hex.replace(/:/g, '').trim();
        if (h.length >= 32 && !/^0+$/.test(h)) {
          const bytes = Buffer.from(h, 'hex');
          out.push(bytes.subarray(0, 16), Buffer.from(h.slice(0, 32)), Buffer.from(bytes.subarray(0, 16).toString('base64').slice(0, 20)));
        }
      }
    }
  }
  return out;
}

describe('the lab\'s passwords and NTLM responses appear in no database and no output', () => {
  let dir: string;
  let db: string;
  let redacted: string;
  beforeAll(() => {
    dir = tmpDir();
    db = path.join(dir, 'audit.sqlite');
    redacted = path.join(dir, 'redacted.sqlite');
    expect(runCli(['analyze', ...CAPTURES, '--db', db, '--quiet']).code).toBe(0);
    const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'cli', 'main.js'), 'analyze', ...CAPTURES, '--db', redacted, '--quiet', '--redact-accounts'], { encoding: 'utf8', env: { ...process.env, EXFLOW_REDACT_KEY: 'a shared sensor key' } });
    expect(r.status, r.stderr).toBe(0);
  });

  it('the captures do hold them (the search would find them)', () => {
    const all = Buffer.concat(CAPTURES.map((f) => fs.readFileSync(f)));
    expect(all.includes(Buffer.from(PASSWORD))).toBe(true);
    expect(secrets().length).toBeGreaterThan(10);
  });

  it('the database file holds none, and the accounts are there', () => {
    const bytes = fs.readFileSync(db);
    for (const s of secrets()) expect(bytes.includes(s), `database holds ${JSON.stringify(s.toString('latin1').slice(0, 24))}`).toBe(false);
    const d = new Database(db, { readonly: true });
    const accounts = d.prepare('SELECT DISTINCT auth_account FROM flows WHERE auth_account IS NOT NULL').pluck().all() as string[];
    d.close();
    expect(accounts).toEqual(expect.arrayContaining(['alice', 'alice@contoso.lab', 'CONTOSO\\alice', 'CONTOSO.LAB\\alice']));
  });

  it('no output holds any: flows, export, every report, host, the HTML page', () => {
    const outputs = [
      ['flows', '--format', 'json'], ['flows', '--format', 'csv'], ['export'], ['export', '--format', 'csv'],
      ['report', 'protection', '--format', 'json'], ['report', 'protection', '--format', 'md'], ['report', 'unexpected', '--format', 'json'],
      ['host', '10.77.0.100', '--format', 'json'], ['hosts', '--format', 'json'], ['report', 'html', '--out', '-'],
    ];
    for (const args of outputs) {
      const r = runCli([...args, '--db', db]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      const out = Buffer.from(r.stdout);
      for (const s of secrets()) expect(out.includes(s), `${args.join(' ')} prints ${JSON.stringify(s.toString('latin1').slice(0, 24))}`).toBe(false);
    }
  });

  it('--redact-accounts: keyed hashes, stable for one key, and no account name in the database', () => {
    const d = new Database(redacted, { readonly: true });
    const accounts = d.prepare('SELECT DISTINCT auth_account FROM flows WHERE auth_account IS NOT NULL').pluck().all() as string[];
    d.close();
    expect(accounts.length).toBeGreaterThan(2);
    for (const a of accounts) expect(a).toMatch(/^acct:[0-9a-f]{16}$/);
    const bytes = fs.readFileSync(redacted);
    for (const name of ['alice@contoso.lab', 'CONTOSO\\alice', 'alice@CONTOSO.LAB']) expect(bytes.includes(Buffer.from(name)), name).toBe(false);
    // The same key gives the same hashes: sensors sharing EXFLOW_REDACT_KEY can be correlated.
    const again = path.join(dir, 'again.sqlite');
    spawnSync(process.execPath, [path.join(ROOT, 'dist', 'cli', 'main.js'), 'analyze', CAPTURES[3], '--db', again, '--quiet', '--redact-accounts'], { env: { ...process.env, EXFLOW_REDACT_KEY: 'a shared sensor key' } });
    const d2 = new Database(again, { readonly: true });
    const second = d2.prepare('SELECT DISTINCT auth_account FROM flows WHERE auth_account IS NOT NULL').pluck().all() as string[];
    d2.close();
    for (const a of second) expect(accounts).toContain(a);
  });
});
