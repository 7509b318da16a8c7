// Every row of seed 003's port tables (Exchange 2013, German) is in
// rules/matrix-2013.yaml: for each row, every port it lists, from its source to its
// target, is allowed by a 2013 rule between those roles. The tables are read out of
// the seed's HTML here, independently of how the YAML was written.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRules } from '../src/rules/load';
import { SHARED } from './helpers';

const SEED = path.join(SHARED, '..', 'seeds', '003_0c4a92ea5722675c.txt');
const HAVE = fs.existsSync(SEED);

/** The seed's names for the two ends, as role ids; rows naming something else (a proxy server, the hybrid cloud) are not role traffic. */
function rolesOf(text: string): string[] | null {
  const t = text.toLowerCase();
  if (t.startsWith('internetfähige')) return ['client-access', 'mailbox'];
  if (t.startsWith('internet')) return ['internet'];
  if (t.startsWith('clientzugriffsserver')) return ['client-access'];
  if (t.startsWith('postfachserver')) return ['mailbox'];
  if (t.startsWith('edge-transport-server')) return ['edge-transport'];
  if (t.startsWith('dns-server')) return ['dns-server'];
  return null;
}

const text = (cell: string) => cell.replace(/<[^>]+>/g, ' ').replace(/&[a-z]+;/g, ' ').replace(/\s+/g, ' ').trim();

/** Rows of the seed's tables whose header has the given columns, as arrays of cell texts. */
function tables(html: string): { header: string[]; rows: string[][] }[] {
  return [...html.matchAll(/<table>([\s\S]*?)<\/table>/g)].map((m) => {
    const header = [...m[1].matchAll(/<th>([\s\S]*?)<\/th>/g)].map((x) => text(x[1]));
    const rows = [...m[1].matchAll(/<tr class="(?:odd|even)">([\s\S]*?)<\/tr>/g)].map((r) => [...r[1].matchAll(/<td>([\s\S]*?)<\/td>/g)].map((c) => text(c[1])));
    return { header, rows };
  });
}

/** "25/TCP (SMTP)", "53/UDP, 53/TCP (DNS)" → [[port, transport]]. */
const ports = (cell: string): [number, string][] => [...cell.matchAll(/(\d+)\/(TCP|UDP)/g)].map((m) => [Number(m[1]), m[2].toLowerCase()]);

describe.skipIf(!HAVE)('seed 003 (Exchange 2013) against rules/matrix-2013.yaml', () => {
  const rules = loadRules();
  const matrix = rules.matrix.filter((r) => r.versions.includes('2013'));
  const allows = (from: string, to: string, port: number, transport: string) =>
    matrix.some(
      (r) =>
        ((r.from === from && r.to === to) || (r.from === to && r.to === from)) &&
        (r.any || r.services.some((s) => { const svc = rules.serviceById.get(s)!; return svc.transports.includes(transport as 'tcp') && svc.ranges.some(([lo, hi]) => port >= lo && port <= hi); })),
    );
  const all = tables(fs.readFileSync(SEED, 'utf8'));

  it('the mail-flow tables (Zweck, Ports, Quelle, Ziel): every port of every row between roles is allowed between them', () => {
    const flow = all.filter((t) => t.header.join('|') === 'Zweck|Ports|Quelle|Ziel|Kommentare');
    expect(flow.length).toBeGreaterThanOrEqual(2);
    let checked = 0;
    const missing: string[] = [];
    for (const t of flow) {
      for (const [purpose, portCell, source, target] of t.rows) {
        const from = rolesOf(source);
        const to = rolesOf(target);
        if (!from || !to) continue;
        for (const [port, transport] of ports(portCell)) {
          for (const f of from) for (const g of to) {
            checked++;
            if (!allows(f, g, port, transport)) missing.push(`${purpose}: ${f} → ${g} ${port}/${transport}`);
          }
        }
      }
    }
    expect(missing).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(12);
  });

  it('the client table (Zweck, Ports, Kommentare): every port clients use is allowed from clients to the Client Access server', () => {
    const clients = all.find((t) => t.header.join('|') === 'Zweck|Ports|Kommentare')!;
    const listed = clients.rows.flatMap((r) => ports(r[1]));
    expect(listed.length).toBeGreaterThanOrEqual(6);
    for (const [port, transport] of listed) expect(allows('other-clients', 'client-access', port, transport), `${port}/${transport}`).toBe(true);
  });
});
