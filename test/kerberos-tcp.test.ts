// Kerberos over TCP read as a stream (issue 33: the KDC reader on the shared SeqTracker): a request
// whose segments overlap — one sent again in part, with new bytes after those already had — is
// read whole, as tshark's reassembly reads it and as the same connection reads when captured
// whole. Before, a segment that began inside bytes already read was dropped with its new bytes,
// and the request was lost (test/fixtures/kerberos/make-partial-retransmission.sh).
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HAVE_SHARED, HAVE_TSHARK, ROOT, runCli, shared, tmpDir } from './helpers';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'kerberos', 'partial-retransmission.pcap');
const CLIENT_PORT = 49530;

interface KerberosFacts {
  auth_mech: string | null;
  auth_account: string | null;
  kerberos_spn: string | null;
}

/** What exflow stored for the connection from CLIENT_PORT to the KDC. */
function factsOf(capture: string, name: string): KerberosFacts {
  const db = path.join(dir, `${name}.sqlite`);
  const r = runCli(['analyze', capture, '--db', db, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare('SELECT auth_mech, auth_account, kerberos_spn FROM flows WHERE client_port = ? AND server_port = 88').get(CLIENT_PORT) as KerberosFacts;
  } finally {
    d.close();
  }
}

describe.skipIf(!HAVE_TSHARK)('Kerberos over TCP: a request sent again in part', () => {
  it('is read whole: the client and service tshark reassembles, and what the connection as captured gives', () => {
    // The fixture's segments overlap as made: bytes 50-99 come twice.
    const segments = spawnSync('tshark', ['-n', '-r', FIXTURE, '-Y', `tcp.srcport == ${CLIENT_PORT} && tcp.len > 0`, '-T', 'fields', '-e', 'tcp.seq', '-e', 'tcp.len'], { encoding: 'utf8' });
    expect(segments.stdout.trim().split('\n')).toEqual(['1\t100', '51\t150', '201\t75']);
    const t = spawnSync('tshark', ['-n', '-r', FIXTURE, '-Y', 'kerberos.msg_type == 10', '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,', '-e', 'kerberos.CNameString', '-e', 'kerberos.realm', '-e', 'kerberos.SNameString'], { encoding: 'utf8' });
    expect(t.status).toBe(0);
    const [cname, realm, sname] = t.stdout.trim().split('\t');
    expect(cname).toBeTruthy();
    const facts = factsOf(FIXTURE, 'fixture');
    expect(facts).toEqual({ auth_mech: 'kerberos', auth_account: `${cname}@${realm}`, kerberos_spn: `${sname.split(',').join('/')}@${realm}` });
    if (HAVE_SHARED) expect(factsOf(shared('lab', 'lab-ad-epm.pcap'), 'captured')).toEqual(facts);
  });
});
