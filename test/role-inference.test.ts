// RoleInference infers each profile of activity once for many hosts: it must answer every
// host exactly as inferring that host alone does — including where a rule asks whether the
// address is public (internet-sender), so that hosts of one profile on both sides of that
// line get their own answers whichever came first.
import { describe, expect, it } from 'vitest';
import { inferRoles, RoleInference, type HostActivity } from '../src/classify/roles';
import { loadRules } from '../src/rules/load';
import { clientProfiles } from '../src/rules/inference';
import { openDb } from '../src/store/db';
import { refreshHostActivity } from '../src/store/roles';
import * as path from 'node:path';
import { ROOT, runCli, tmpDir } from './helpers';

const rules = loadRules();

/** A small deterministic generator (the test's cases are the same on every run). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const pick = (next: () => number, from: string[], most: number): string[] => from.filter(() => next() < most / Math.max(from.length, 1));

describe('RoleInference', () => {
  it('answers every host as inferring it alone does, whichever host of a profile came first', () => {
    const services = [...new Set(rules.inference.flatMap((r) => [...r.servesAll, ...r.servesAny, ...r.usesAny, ...r.usesNone, ...r.clientsServeAny, ...r.clientsServeNone]))];
    const tokens = [...new Set(rules.inference.flatMap((r) => r.namedAny))];
    const next = random(20261207);
    const profiles: Omit<HostActivity, 'address'>[] = [{ serves: new Set(), uses: new Set(['smtp']), named: new Set(), servedTo: new Set() }];
    for (let i = 0; i < 400; i++) {
      const serves = next() < 0.4 ? [] : pick(next, services, 2);
      profiles.push({
        serves: new Set(serves),
        uses: new Set(pick(next, services, 3)),
        named: new Set(pick(next, tokens, 1)),
        servedTo: new Set(serves.map((s) => `${s}>${pick(next, services, 1).join(',')}`)),
      });
    }
    const addresses = ['10.1.2.3', '203.0.113.9', '192.0.2.44', '8.8.8.8', 'fd00::5', '2001:4860::8888', ''];
    const hosts = profiles.flatMap((p, i) => addresses.map((address) => ({ address, profile: String(i), activity: { ...p, address } })));
    // Shuffled: a profile is met first from a public address in some cases, a private one in others.
    for (let i = hosts.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [hosts[i], hosts[j]] = [hosts[j], hosts[i]];
    }
    const memo = new RoleInference(rules);
    let asked = 0;
    for (const h of hosts) {
      const got = memo.infer(h.address, h.profile, () => {
        asked++;
        return h.activity;
      });
      expect(got, `${h.address} profile ${h.profile}`).toEqual(inferRoles(rules, h.activity));
    }
    // The public/private line mattered to some hosts (the case above that tests it) and most were not inferred again.
    const internet = hosts.filter((h) => h.profile === '0').map((h) => memo.infer(h.address, h.profile, () => h.activity).roles.join(','));
    expect(new Set(internet).size).toBeGreaterThan(1);
    expect(asked).toBeLessThan(hosts.length / 2);
  });
});

describe('what names say of their hosts (hosts.named)', () => {
  it('each host has the tokens of the evidence on its names and on their DNS aliases, as the rule reads', () => {
    // A database of the lab's capture, with names and evidence of our own beside its own.
    const file = path.join(tmpDir(), 'named.sqlite');
    const r = runCli(['analyze', path.join(ROOT, 'samples'), '--db', file]);
    expect(r.code, r.stderr).toBe(0);
    const db = openDb(file, { create: false });
    try {
      const next = random(77);
      const pick = <T>(xs: T[]) => xs[Math.floor(next() * xs.length)];
      const names = Array.from({ length: 12 }, (_, i) => `n${i}.example`);
      const sources = ['dns-a', 'dns-ptr', 'tls-sni', 'smtp-ehlo', 'ntlm-workstation', 'kerberos-spn'];
      const kinds = ['dns-srv', 'dns-mx', 'kerberos-spn', 'dns-cname'];
      const addresses = Array.from({ length: 40 }, (_, i) => `10.9.${i >> 4}.${i & 15}`);
      db.exec('DELETE FROM host_names; DELETE FROM name_evidence');
      const capture = db.prepare('SELECT min(id) FROM captures').pluck().get() as number;
      const putName = db.prepare('INSERT OR IGNORE INTO host_names (capture_id, address, name, source, first_sec, last_sec, flows) VALUES (?, ?, ?, ?, 1, 2, 1)');
      const putEvidence = db.prepare('INSERT OR IGNORE INTO name_evidence (capture_id, name, kind, detail, first_sec, last_sec, flows) VALUES (?, ?, ?, ?, 1, 2, 1)');
      const putHost = db.prepare('INSERT OR IGNORE INTO hosts (address, first_sec, last_sec) VALUES (?, 1, 2)');
      const hostNames: [string, string, string][] = [];
      const evidence: [string, string, string][] = [];
      for (let i = 0; i < 150; i++) hostNames.push([pick(addresses), pick(names), pick(sources)]);
      for (let i = 0; i < 60; i++) {
        const kind = pick(kinds);
        // An alias's detail names another name (the canonical one); the others a service or domain.
        evidence.push([pick(names), kind, kind === 'dns-cname' ? pick(names) : pick(['_ldap._tcp.dc._msdcs', 'ldap', 'exchangemdb', 'example'])]);
      }
      for (const [a, n, s] of hostNames) {
        putName.run(capture, a, n, s);
        putHost.run(a);
      }
      for (const [n, k, d] of evidence) putEvidence.run(capture, n, k, d);
      refreshHostActivity(db, clientProfiles(rules.inference));
      // The rule, read plainly: a host's names (but those it only claimed itself) and each name's
      // evidence, on it or on an alias of it (a name whose CNAME is it), as "kind:detail" and "kind".
      const rows = db.prepare('SELECT address, source, name FROM host_names').raw().all() as [string, string, string][];
      const ev = db.prepare('SELECT name, kind, detail FROM name_evidence').raw().all() as [string, string, string][];
      const want = new Map<string, Set<string>>();
      for (const [address, source, name] of rows) {
        if (source === 'smtp-ehlo' || source === 'ntlm-workstation') continue;
        const aliases = new Set(ev.filter(([, k, d]) => k === 'dns-cname' && d === name).map(([n]) => n));
        for (const [n, k, d] of ev) {
          if (k === 'dns-cname' || (n !== name && !aliases.has(n))) continue;
          const set = want.get(address) ?? new Set<string>();
          set.add(`${k}:${d}`).add(k);
          want.set(address, set);
        }
      }
      const got = db.prepare('SELECT address, named FROM hosts').raw().all() as [string, string][];
      let named = 0;
      for (const [address, text] of got) {
        const expected = [...(want.get(address) ?? [])].sort();
        expect(JSON.parse(text), address).toEqual(expected);
        if (expected.length) named++;
      }
      expect(named).toBeGreaterThan(10);
    } finally {
      db.close();
    }
  });
});
