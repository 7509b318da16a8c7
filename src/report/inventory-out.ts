// "exflow hosts --format inventory | inventory-csv": the hosts as an inventory that
// --inventory reads back. Roles from an inventory are written as entries; roles
// exflow inferred are written commented out, with their evidence, for a person to
// confirm (uncomment) or correct; hosts without a role are not written.
import { quoteCsv, type Row } from './format';

const q = (s: string) => JSON.stringify(s); // a JSON string is a YAML double-quoted scalar

export function inventoryYaml(hosts: Row[], header: string): string {
  const out = [...header.split('\n').map((l) => `# ${l}`.trimEnd()), 'hosts:'];
  for (const h of hosts) {
    const roles = h.roles as string[];
    if (roles.length === 0) continue;
    const inferred = h.role_source !== 'inventory';
    const entry = [`- address: ${q(String(h.address))}`, `  roles: [${roles.map(q).join(', ')}]`];
    for (const k of ['name', 'site', 'version'] as const) if (h[k] !== null && h[k] !== undefined) entry.push(`  ${k}: ${q(String(h[k]))}`);
    if (inferred) {
      out.push(`  # inferred (${h.confidence ?? 'unknown'} confidence): ${(h.evidence as string[]).slice(0, 3).join('; ').replace(/\n/g, ' ')}`);
      out.push(...entry.map((l) => `  # ${l}`));
    } else out.push(...entry.map((l) => `  ${l}`));
  }
  // Nothing but commented entries: an empty list, which the reader takes (a bare "hosts:" it does not).
  if (!out.some((l) => l.startsWith('  - '))) out[out.indexOf('hosts:')] = 'hosts: []';
  return out.join('\n') + '\n';
}

/**
 * A cell as --inventory reads it back: quoted where RFC 4180 needs it, and where a
 * spreadsheet would take it for a formula — quoted, not prefixed, so the value stays
 * what it was.
 */
function csvCell(s: string): string {
  return quoteCsv(s, /^[=+\-@\t]/.test(s));
}

export function inventoryCsv(hosts: Row[]): string {
  const out = ['address,roles,name,site,version'];
  for (const h of hosts) {
    const roles = h.roles as string[];
    if (roles.length === 0) continue;
    const cells = [String(h.address), roles.join(';'), ...(['name', 'site', 'version'] as const).map((k) => (h[k] === null || h[k] === undefined ? '' : String(h[k])))];
    const line = cells.map(csvCell).join(',');
    // The reader skips a row that is one cell starting with "#": an inferred host, to confirm.
    out.push(h.role_source === 'inventory' ? line : csvCell(`# inferred, confirm by removing "# ": ${line}`));
  }
  return out.join('\r\n') + '\r\n';
}
