// The Exchange 2010 data paths of seed 004 (Chinese, a PDF turned into text: a
// path's name wraps onto the line after its ports) against rules/matrix-2010.yaml:
// every "X 到 Y" path between two Exchange roles, with the ports on its line or the
// next, is allowed by a 2010 rule between those roles. Read from the seed here,
// independently of the YAML.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRules } from '../src/rules/load';
import { SHARED } from './helpers';

const SEED = path.join(SHARED, '..', 'seeds', '004_157b6574d6cd04e4.txt');
const HAVE = fs.existsSync(SEED);

// The seed's role names (a wrapped name may be cut anywhere after its first characters).
const ROLES: [string, string][] = [
  ['集线器传输服务器', 'hub-transport'],
  ['边缘传输服务器', 'edge-transport'],
  ['邮箱服务器', 'mailbox'],
  ['统一消息服务器', 'unified-messaging'],
  ['客户端访问服务器', 'client-access'],
];

/** The role a (possibly cut) name denotes: the name must be a prefix of a known one or start with it. */
function roleOf(name: string): string | null {
  const n = name.replace(/\s+/g, '');
  if (n.length < 4) return null;
  for (const [zh, id] of ROLES) if (n.startsWith(zh) || (zh.startsWith(n) && n.length >= 4)) return id;
  return null;
}

const PORT = /(\d{2,5})\/TCP/g;

function paths(): { from: string; to: string; ports: number[]; line: string }[] {
  const ls = fs.readFileSync(SEED, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
  const out: { from: string; to: string; ports: number[]; line: string }[] = [];
  for (let i = 0; i < ls.length; i++) {
    const m = /^(\S+?服务器)到(\S+)$/.exec(ls[i].replace(/\s+\d.*$/, ''));
    if (!m) continue;
    const from = roleOf(m[1]);
    const to = roleOf(m[2]);
    if (!from || !to) continue;
    // Ports on the path's own line or on the next one; a path with none is a heading.
    const here = [...ls[i].matchAll(PORT)].map((x) => Number(x[1]));
    const next = i + 1 < ls.length ? [...ls[i + 1].matchAll(PORT)].map((x) => Number(x[1])) : [];
    const ports = here.length ? here : next;
    if (ports.length) out.push({ from, to, ports, line: ls[i] });
  }
  return out;
}

describe.skipIf(!HAVE)('seed 004 (Exchange 2010 data paths) against rules/matrix-2010.yaml', () => {
  it('every data path between two Exchange roles, port by port, is allowed by a 2010 rule between them', () => {
    const rules = loadRules();
    const matrix = rules.matrix.filter((r) => r.versions.includes('2010'));
    const allows = (from: string, to: string, port: number) =>
      matrix.some(
        (r) =>
          ((r.from === from && r.to === to) || (r.from === to && r.to === from)) &&
          (r.any || r.services.some((s) => rules.serviceById.get(s)!.ranges.some(([lo, hi]) => port >= lo && port <= hi && hi - lo < 1000))),
      );
    const found = paths();
    expect(found.length).toBeGreaterThanOrEqual(8);
    const missing = found.flatMap((p) => p.ports.filter((port) => !allows(p.from, p.to, port)).map((port) => `${p.line}: ${p.from} → ${p.to} ${port}/TCP`));
    expect(missing).toEqual([]);
  });
});
