// The TLS reader on bytes of known layout: a record split across segments is held
// in a buffer charged to the run's budget, given back when the flow is done; a
// budget that says no stops that side instead of growing.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../src/inspect/dcerpc/budget';
import { Inspectors } from '../src/inspect';
import { RpcConnection } from '../src/inspect/dcerpc/connection';
import { LineProtocol, StartTls } from '../src/inspect/starttls';
import { LdapSession } from '../src/inspect/ldap';
import { loadRules } from '../src/rules/load';
import { inspectorPorts } from '../src/rules/services';
import { TlsHandshake } from '../src/inspect/tls';
import { HAVE_TSHARK, ROOT, tmpDir } from './helpers';
import { SeqTracker } from '../src/inspect/seq';

/** A handshake record of `n` body bytes, of which only `have` are in this segment. */
function partialRecord(n: number, have: number): Buffer {
  const b = Buffer.alloc(5 + have, 0x41);
  b[0] = 22;
  b[1] = 3;
  b[2] = 1;
  b.writeUInt16BE(n, 3);
  b[5] = 1; // ClientHello
  return b;
}

describe('where a segment falls (SeqTracker, the TLS and LDAP readers\' one rule)', () => {
  it('new bytes, a whole retransmission, a partial one (its new part kept, the next segment expected after its end), a gap', () => {
    const t = new SeqTracker();
    expect(t.started).toBe(false);
    expect(t.place(1000, 100, 100)).toBe(0);
    expect(t.place(1000, 100, 100)).toBe(-1);
    expect(t.place(1050, 100, 100)).toBe(50);
    expect(t.place(1150, 100, 100)).toBe(0);
    expect(t.gap).toBe(false);
    expect(t.place(1300, 10, 10)).toBe(0);
    expect(t.gap).toBe(true);
    // Sequence numbers wrap at 2^32.
    const w = new SeqTracker();
    w.place(0xffffffc0, 64, 64);
    expect(w.place(0, 10, 10)).toBe(0);
    expect(w.gap).toBe(false);
  });

  it.skipIf(!HAVE_TSHARK)('a real ClientHello whose middle segment is sent again with more bytes: its server name is still read', () => {
    const r = spawnSync('tshark', ['-r', path.join(ROOT, 'test/fixtures/exchange-lab/exchange-tls-extra.pcap'), '-Y', 'tls.handshake.type == 1', '-T', 'fields', '-e', 'tcp.payload', '-e', 'tls.handshake.extensions_server_name'], { encoding: 'utf8' });
    const [hex, sni] = r.stdout.split('\n')[0].split('\t');
    const hello = Buffer.from(hex, 'hex');
    expect(sni).toBe('odd-port.contoso.lab');
    const t = new TlsHandshake(null);
    const part = (from: number, to: number) => t.segment(0, 1000 + from, 0x18, hello.subarray(from, to), 0, to - from, to - from);
    part(0, 100);
    part(50, 150); // a retransmission of 50 bytes and 50 new ones
    part(150, hello.length);
    expect(t.facts.sni).toBe(sni);
  });
});

describe('TLS reader memory', () => {
  it('a record split across segments is buffered against the budget and given back at the end', () => {
    const budget = new ByteBudget(1 << 20);
    const t = new TlsHandshake(budget);
    const seg = partialRecord(3000, 1000);
    expect(t.segment(0, 1, 0x18, seg, 0, seg.length, seg.length)).toBe(true);
    expect(budget.used).toBeGreaterThanOrEqual(1005);
    t.finish();
    expect(budget.used).toBe(0);
  });

  it('a budget that says no stops the side; nothing is left charged', () => {
    const budget = new ByteBudget(1000);
    const t = new TlsHandshake(budget);
    const seg = partialRecord(3000, 1000);
    t.segment(0, 1, 0x18, seg, 0, seg.length, seg.length);
    expect(budget.refusals).toBe(1);
    expect(budget.used).toBe(0);
    // The other side alone cannot tell anything more: the next segment ends the reading.
    expect(t.segment(1, 1, 0x18, seg, 0, 5, 5)).toBe(false);
    expect(t.clientHello).toBe(false);
  });
});

describe('X.509 names', () => {
  const tlv = (tag: number, ...parts: Buffer[]) => {
    const body = Buffer.concat(parts);
    return Buffer.concat([Buffer.from([tag, body.length]), body]);
  };
  const name = (valueTag: number, value: Buffer) => tlv(0x30, tlv(0x31, tlv(0x30, tlv(0x06, Buffer.from([0x55, 0x04, 0x03])), tlv(valueTag, value))));
  const cert = (subject: Buffer) =>
    tlv(0x30, tlv(0x30, tlv(0xa0, tlv(0x02, Buffer.from([2]))), tlv(0x02, Buffer.from([1])), tlv(0x30, tlv(0x06, Buffer.from([0x2a]))), name(0x0c, Buffer.from('issuer')), tlv(0x30), subject));

  it('reads CN in UTF8String and BMPString; an odd byte at the end of a BMPString is left out, not thrown on', async () => {
    const { certificateNames } = await import('../src/inspect/x509');
    expect(certificateNames(cert(name(0x0c, Buffer.from('mbx01')))))!.toEqual({ subject: 'CN=mbx01', issuer: 'CN=issuer' });
    const bmp = Buffer.from('\u0000m\u0000b\u0000x', 'latin1'); // "mbx" in UTF-16BE
    expect(certificateNames(cert(name(0x1e, bmp)))!.subject).toBe('CN=mbx');
    expect(certificateNames(cert(name(0x1e, Buffer.concat([bmp, Buffer.from([0x41])]))))!.subject).toBe('CN=mbx');
  });

  it.skipIf(spawnSync('openssl', ['version']).status !== 0)('as openssl -nameopt RFC2253 writes it, emailAddress, serialNumber and the rest by name; a type neither names as its dotted OID with its DER in hex', async () => {
    const { certificateNames } = await import('../src/inspect/x509');
    const dir = tmpDir();
    const subj = '/C=DE/ST=Bayern/L=Munich/O=Contoso, Inc./OU=IT/CN=mail.contoso.lab/emailAddress=admin@contoso.lab/serialNumber=42/businessCategory=Private Organization/jurisdictionC=DE/postalCode=80331/street=Main St 1/DC=contoso/UID=u1/SN=Doe/GN=John/title=Admin';
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem'), '-days', '1', '-subj', subj, '-outform', 'PEM'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const der = spawnSync('openssl', ['x509', '-in', path.join(dir, 'c.pem'), '-outform', 'DER'], { encoding: 'buffer' }).stdout;
    const names = certificateNames(der)!;
    const theirs = spawnSync('openssl', ['x509', '-in', path.join(dir, 'c.pem'), '-noout', '-subject', '-nameopt', 'RFC2253'], { encoding: 'utf8' }).stdout.trim().replace(/^subject=/, '');
    // RFC 4514 spells the street STREET; openssl writes a type it does not name as ours are written.
    expect(names.subject).toBe(theirs.replace(',street=', ',STREET='));
    expect(names.subject).toContain(',emailAddress=admin@contoso.lab,');
    // A type neither names (1.2.3.4, made by hand: openssl -subj takes only types it knows).
    const odd = tlv(0x30, tlv(0x31, tlv(0x30, tlv(0x06, Buffer.from([0x2a, 0x03, 0x04])), tlv(0x0c, Buffer.from('odd')))));
    expect(certificateNames(cert(odd))!.subject).toBe('1.2.3.4=#0c03' + Buffer.from('odd').toString('hex'));
    expect(names.subject!.endsWith(',CN=mail.contoso.lab,OU=IT,O=Contoso\\, Inc.,L=Munich,ST=Bayern,C=DE')).toBe(true);
  });
});

describe('inspect until decided: LDAP StartTLS', () => {
  // Port 389/3268: the client's first message says everything — a StartTLS request (follow it),
  // another LDAP message (in clear), or no LDAP message at all (nothing to learn).
  const ldap = () => new LdapSession(1);
  it('bytes that are not an LDAP message: lets go at once, nothing decided', () => {
    const s = ldap();
    expect(s.segment(0, 1, 0x18, Buffer.alloc(200, 1), 0, 200, 200, 1, 0)).toBe(false);
    expect(s.use).toBeNull();
  });
  it('a bind in clear: lets go, in clear', () => {
    const s = ldap();
    const bindReq = Buffer.from('300c020101600702010304008000', 'hex');
    expect(s.segment(0, 1, 0x18, bindReq, 0, bindReq.length, bindReq.length, 1, 0)).toBe(false);
    expect(s.use).toBe('none');
  });
  it('the StartTLS request: keeps reading for the handshake', () => {
    const s = ldap();
    const oid = Buffer.from('1.3.6.1.4.1.1466.20037', 'latin1');
    const req = Buffer.concat([Buffer.from('301d02010177188016', 'hex'), oid]);
    expect(s.segment(0, 1, 0x18, req, 0, req.length, req.length, 1, 0)).toBe(true);
  });
});

describe('which inspector a flow gets by its ports', () => {
  it("the second side's port (the server's, when the handshake is in the capture) wins over the first side's", () => {
    // A client whose ephemeral port is 6001 (RPC over HTTP's) talking to the global catalog.
    const rules = loadRules();
    const ins = new Inspectors(inspectorPorts(rules.services));
    expect(ins.byPorts(6001, 3268)).toBeInstanceOf(LdapSession);
    expect(ins.byPorts(50000, 6001)).toBeInstanceOf(RpcConnection);
    expect(ins.byPorts(6001, 50000)).toBeInstanceOf(RpcConnection);
    expect(ins.byPorts(50000, 50001)).toBeNull();
  });
});
