// RoleInference infers each profile of activity once for many hosts: it must answer every
// host exactly as inferring that host alone does — including where a rule asks whether the
// address is public (internet-sender), so that hosts of one profile on both sides of that
// line get their own answers whichever came first.
import { describe, expect, it } from 'vitest';
import { inferRoles, RoleInference, type HostActivity } from '../src/classify/roles';
import { loadRules } from '../src/rules/load';

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
