// The new parsers on hostile bytes: random buffers and real messages with bytes
// flipped, cut or lengthened. None may throw (what they cannot read, they leave);
// the ones that signal damage throw Malformed only, which their callers catch.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../src/inspect/dcerpc/budget';
import { ClMapper } from '../src/inspect/dcerpc/cl';
import { activationBindings, activationClsid, oxidBindings } from '../src/inspect/dcerpc/dcom';
import { isMalformed } from '../src/inspect/dcerpc/wire';
import { HttpRequest } from '../src/inspect/http';
import { LineProtocol, StartTls } from '../src/inspect/starttls';
import { TlsHandshake } from '../src/inspect/tls';
import { certificateNames } from '../src/inspect/x509';
import { AuthFacts } from '../src/inspect/auth/facts';
import { readGssToken } from '../src/inspect/auth/gss';
import { findNtlmssp, readNtlmssp } from '../src/inspect/auth/ntlmssp';
import { SmbPipes } from '../src/inspect/dcerpc/smb';
import { KdcExchange } from '../src/inspect/kerberos';
import { LdapSession } from '../src/inspect/ldap';
import { NbnsAnswers } from '../src/inspect/nbns';
import { rng } from '../src/fuzz/harness';
import { ROOT } from './helpers';

/** The payloads of a pcap's TCP/UDP packets (Ethernet, IPv4), in order. */
function payloads(file: string): Buffer[] {
  const b = fs.readFileSync(file);
  const out: Buffer[] = [];
  for (let o = 24; o + 16 <= b.length; ) {
    const cap = b.readUInt32LE(o + 8);
    const f = b.subarray(o + 16, o + 16 + cap);
    o += 16 + cap;
    if (f.length < 34 || f.readUInt16BE(12) !== 0x0800) continue;
    const ihl = (f[14] & 15) * 4;
    const proto = f[23];
    const l4 = 14 + ihl;
    const off = proto === 6 ? l4 + (f[l4 + 12] >> 4) * 4 : proto === 17 ? l4 + 8 : -1;
    if (off > 0 && off < f.length) out.push(Buffer.from(f.subarray(off)));
  }
  return out;
}

function mutate(r: () => number, b: Buffer): Buffer {
  const m = Buffer.from(b);
  const kind = Math.floor(r() * 4);
  if (kind === 0) for (let i = 0; i < 1 + Math.floor(r() * 8); i++) m[Math.floor(r() * m.length)] = Math.floor(r() * 256);
  if (kind === 1) return m.subarray(0, Math.floor(r() * m.length));
  if (kind === 2) for (let i = 0; i < 4; i++) m[Math.floor(r() * m.length)] = 0xff;
  if (kind === 3) return Buffer.concat([m, Buffer.from(Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256)))]);
  return m;
}

describe('inspector parsers on hostile bytes', () => {
  const r = rng(20261203);
  const real = [
    ...payloads(path.join(ROOT, 'test', 'fixtures', 'exchange-lab', 'exchange-lab-full.pcap')),
    ...payloads(path.join(ROOT, 'test', 'fixtures', 'dcom', 'dcom-oxid.pcap')),
    ...payloads(path.join(ROOT, 'test', 'fixtures', 'cl-epm', 'cl-epm.pcap')),
    ...payloads(path.join(ROOT, 'test', 'fixtures', 'exchange-lab', 'exchange-tls-extra.pcap')),
  ].filter((p) => p.length > 0);
  // DER certificates inside the captured TLS 1.2 handshakes (a SEQUENCE with a two-byte length).
  const certs = real.flatMap((p) => {
    for (let at = p.indexOf(0x30, 10); at > 0 && at + 6 < p.length; at = p.indexOf(0x30, at + 1)) {
      if (p[0] === 22 && p[at + 1] === 0x82 && p[at + 4] === 0x30 && p[at + 5] === 0x82) return [p.subarray(at)]; // in a TLS handshake record: Certificate, then tbsCertificate
    }
    return [];
  });

  it('20,000 inputs through TLS, STARTTLS, HTTP, the UDP mapper and the DCOM and X.509 readers: no exception but Malformed, no budget left taken', () => {
    expect(real.length).toBeGreaterThan(500);
    expect(certs.length).toBeGreaterThan(0);
    expect(certificateNames(certs[0])?.subject).toMatch(/CN=/);
    const budget = new ByteBudget(1 << 20);
    for (let i = 0; i < 20000; i++) {
      const base = real[Math.floor(r() * real.length)];
      const input = r() < 0.2 ? Buffer.from(Array.from({ length: Math.floor(r() * 300) }, () => Math.floor(r() * 256))) : mutate(r, base);
      const inspectors = [new TlsHandshake(budget), new StartTls(1 + Math.floor(r() * 3), 1, budget), new HttpRequest(1), new ClMapper()];
      for (const ins of inspectors) {
        // A few segments each way, the first possibly a real handshake start.
        for (let k = 0; k < 3; k++) ins.segment(k % 2, 1000 + k * input.length, 0x18, input, 0, input.length, input.length + (r() < 0.1 ? 10 : 0), 0, 0);
      }
      (inspectors[0] as TlsHandshake).finish();
      (inspectors[1] as StartTls).finish();
      certificateNames(input);
      if (certs.length) certificateNames(mutate(r, certs[Math.floor(r() * certs.length)]));
      activationBindings(input);
      activationClsid(input);
      try {
        oxidBindings(input, r() < 0.5);
      } catch (e) {
        if (!isMalformed(e)) throw e;
      }
    }
    expect(budget.used).toBe(0);
  });
});

describe('the authentication readers on hostile bytes', () => {
  const r = rng(20261204);
  const dir = path.join(ROOT, 'test', 'fixtures', 'protection');
  // Real NTLM, SPNEGO, Kerberos, LDAP, SMB, HTTP and mail logins from the protection lab captures.
  const real = ['rpc-auth-levels.pcap', 'ldap-binds.pcap', 'smb-sessions.pcap', 'cleartext-logins.pcap'].flatMap((f) => payloads(path.join(dir, f))).filter((p) => p.length > 0);
  const tokens = real.flatMap((p) => {
    const at = findNtlmssp(p, 0, p.length);
    const gss = p.indexOf(0x60);
    return [...(at >= 0 ? [p.subarray(at)] : []), ...(gss >= 0 ? [p.subarray(gss)] : [])];
  });

  it('20,000 inputs through NTLMSSP, GSS/SPNEGO, the KDC, LDAP, SMB, the logins and NetBIOS names: no exception, no budget left taken, names bounded', () => {
    expect(tokens.length).toBeGreaterThan(20);
    const budget = new ByteBudget(1 << 20);
    for (let i = 0; i < 20000; i++) {
      const base = r() < 0.5 ? tokens[Math.floor(r() * tokens.length)] : real[Math.floor(r() * real.length)];
      const input = r() < 0.15 ? Buffer.from(Array.from({ length: Math.floor(r() * 300) }, () => Math.floor(r() * 256))) : mutate(r, base);
      const facts = new AuthFacts();
      readNtlmssp(input, 0, input.length, facts);
      readGssToken(input, 0, input.length, facts);
      for (const n of facts.names) expect(n.name.length).toBeLessThanOrEqual(256);
      if (facts.account !== null) expect(facts.account.length).toBeLessThanOrEqual(256);
      const inspectors = [new LdapSession(1, budget), new KdcExchange(true, budget), new KdcExchange(false), new SmbPipes(budget), new HttpRequest(1, budget), new StartTls(1 + Math.floor(r() * 3), 1, budget), new NbnsAnswers(budget)];
      for (const ins of inspectors) {
        for (let k = 0; k < 3; k++) ins.segment(k % 2, 1000 + k * input.length, 0x18, input, 0, input.length, input.length + (r() < 0.1 ? 10 : 0), 0, 0);
      }
      (inspectors[0] as LdapSession).finish();
      (inspectors[1] as KdcExchange).finish();
      (inspectors[2] as KdcExchange).finish();
      (inspectors[3] as SmbPipes).finish(0);
      (inspectors[4] as HttpRequest).finish();
      (inspectors[5] as StartTls).finish();
      (inspectors[6] as NbnsAnswers).forget();
    }
    expect(budget.used).toBe(0);
  });
});
