// "exflow hosts --format inventory | inventory-csv": the hosts as an inventory that
// --inventory reads back. Roles from an inventory are written as entries; roles
// exflow inferred are written commented out, with their evidence, for a person to
// confirm (uncomment) or correct; hosts without a role are not written.
import { quoteCsv, type Row } from './format';

const q = (s: string) => JSON.stringify(s); // a JSON string is a YAML double-quoted scalar

/**
 * The hosts as inventory YAML, written as they come. `hosts` is read twice: first only
 * to learn whether any entry is not commented out (then the list opens with "hosts:",
 * else it is "hosts: []", which the reader takes — a bare "hosts:" it does not).
 */
export function inventoryYaml(hosts: () => Iterable<Row>, header: string, write: (s: string) => void): void {
  let entries = false;
  for (const h of hosts()) {
    if (h.role_source === 'inventory' && (h.roles as string[]).length > 0) {
      entries = true;
      break;
    }
  }
  write(header.split(/\r\n|\r|\n/).map((l) => `# ${l}`.trimEnd()).join('\n') + (entries ? '\nhosts:\n' : '\nhosts: []\n'));
  for (const h of hosts()) {
    const roles = h.roles as string[];
    if (roles.length === 0) continue;
    const entry = [`- address: ${q(String(h.address))}`, `  roles: [${roles.map(q).join(', ')}]`];
    for (const k of ['name', 'site', 'version'] as const) if (h[k] !== null && h[k] !== undefined) entry.push(`  ${k}: ${q(String(h[k]))}`);
    if (h.role_source !== 'inventory') {
      const evidence = (h.evidence as string[]).slice(0, 3).join('; ').replace(/[\r\n]/g, ' ');
      write([`  # inferred (${h.confidence ?? 'unknown'} confidence): ${evidence}`, ...entry.map((l) => `  # ${l}`)].join('\n') + '\n');
    } else write(entry.map((l) => `  ${l}`).join('\n') + '\n');
  }
}

/**
 * A cell as --inventory reads it back: quoted where RFC 4180 needs it, and where a
 * spreadsheet would take it for a formula — quoted, not prefixed, so the value stays
 * what it was.
 */
function csvCell(s: string): string {
  return quoteCsv(s, /^[=+\-@\t]/.test(s));
}

/** The hosts as inventory CSV, written as they come. */
export function inventoryCsv(hosts: Iterable<Row>, write: (s: string) => void): void {
  write('address,roles,name,site,version\r\n');
  for (const h of hosts) {
    const roles = h.roles as string[];
    if (roles.length === 0) continue;
    const cells = [String(h.address), roles.join(';'), ...(['name', 'site', 'version'] as const).map((k) => (h[k] === null || h[k] === undefined ? '' : String(h[k])))];
    const line = cells.map(csvCell).join(',');
    // The reader skips a row that is one cell starting with "#": an inferred host, to confirm.
    write((h.role_source === 'inventory' ? line : csvCell(`# inferred, confirm by removing "# ": ${line}`)) + '\r\n');
  }
}
