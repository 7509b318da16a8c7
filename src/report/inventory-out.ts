// "exflow hosts --format inventory | inventory-csv": the hosts as an inventory that
// --inventory reads back as it is. Roles from an inventory, and roles inferred with high
// confidence, are written as entries (an inferred one under a comment with its evidence);
// roles inferred with less confidence are written commented out, to confirm by removing the
// "# " before each of the entry's lines; hosts without a role are not written.
import { quoteCsv, type Row } from './format';

const q = (s: string) => JSON.stringify(s); // a JSON string is a YAML double-quoted scalar

/** Whether a host's roles are written as an entry (the rest are commented out, to confirm). */
const active = (h: Row) => h.role_source === 'inventory' || h.confidence === 'high';

/** Why an inferred host's roles: its confidence and first evidence, on one line. */
const why = (h: Row) => `inferred (${h.confidence ?? 'unknown'} confidence): ${(h.evidence as string[]).slice(0, 3).join('; ').replace(/[\r\n]/g, ' ')}`;

/**
 * The hosts as inventory YAML, written as they come. The list always opens with "hosts:" (the
 * reader takes a bare one as empty), so that uncommenting an entry below it is valid YAML.
 */
export function inventoryYaml(hosts: () => Iterable<Row>, header: string, write: (s: string) => void): void {
  write(header.split(/\r\n|\r|\n/).map((l) => `# ${l}`.trimEnd()).join('\n') + '\n# Entries under "# inferred" comments: remove the entry if wrong. Commented entries: remove the "# " before their lines to confirm.\nhosts:\n');
  for (const h of hosts()) {
    const roles = h.roles as string[];
    if (roles.length === 0) continue;
    const entry = [`- address: ${q(String(h.address))}`, `  roles: [${roles.map(q).join(', ')}]`];
    for (const k of ['name', 'site', 'version'] as const) if (h[k] !== null && h[k] !== undefined) entry.push(`  ${k}: ${q(String(h[k]))}`);
    const note = h.role_source === 'inventory' ? [] : [`  # ${why(h)}`];
    const lines = active(h) ? entry.map((l) => `  ${l}`) : entry.map((l) => `  # ${l}`);
    write([...note, ...lines].join('\n') + '\n');
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

/**
 * The hosts as inventory CSV, written as they come: the same entries as the YAML; a host to
 * confirm is its row behind "# " (the reader skips lines that begin with "#"), under a comment
 * line saying why.
 */
export function inventoryCsv(hosts: Iterable<Row>, write: (s: string) => void): void {
  write('address,roles,name,site,version\r\n');
  for (const h of hosts) {
    const roles = h.roles as string[];
    if (roles.length === 0) continue;
    const cells = [String(h.address), roles.join(';'), ...(['name', 'site', 'version'] as const).map((k) => (h[k] === null || h[k] === undefined ? '' : String(h[k])))];
    const line = cells.map(csvCell).join(',');
    if (h.role_source !== 'inventory') write(`# ${why(h).replace(/[\r\n]/g, ' ')}\r\n`);
    write(`${active(h) ? '' : '# '}${line}\r\n`);
  }
}
