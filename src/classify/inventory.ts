// The inventory: what the user knows about hosts — address or CIDR → role(s),
// name, site, Exchange version — from YAML or CSV. A host matches its most
// specific entry (longest prefix); errors name the file and line like rules errors.
import * as fs from 'node:fs';
import type { RuleSet } from '../rules/load';
import { RulesError, RulesFile } from '../rules/source';
import { roleNamed } from '../rules/roles';
import { parse as parseCsv } from 'csv-parse/sync';
import { parseNet, type Net } from './ip';

export interface InventoryEntry {
  /** As written: an address or a CIDR block. */
  address: string;
  net: Net;
  roles: string[];
  name: string | null;
  site: string | null;
  version: string | null;
  source: string;
}

/** Addresses looked up are remembered up to this many (flows repeat their hosts). */
const LOOKUP_CACHE = 65536;

/**
 * Entries indexed by prefix: one Map per (family, prefix length) from the masked
 * address to its entry, so a lookup costs one Map probe per prefix length in use
 * (most specific first), however many entries there are.
 */
export class Inventory {
  private readonly byPrefix: { family: 4 | 6; bits: number; map: Map<string, InventoryEntry> }[] = [];
  private readonly cache = new Map<string, InventoryEntry | null>();

  constructor(readonly entries: InventoryEntry[]) {
    const tables = new Map<string, Map<string, InventoryEntry>>();
    for (const e of entries) {
      const id = `${e.net.family}/${e.net.bits}`;
      let t = tables.get(id);
      if (!t) {
        t = new Map();
        tables.set(id, t);
        this.byPrefix.push({ family: e.net.family, bits: e.net.bits, map: t });
      }
      t.set(maskedKey(e.net, e.net.bits), e);
    }
    this.byPrefix.sort((a, b) => b.bits - a.bits);
  }

  /** The most specific entry containing `address`, or null. */
  lookup(address: string): InventoryEntry | null {
    if (this.entries.length === 0) return null;
    const hit = this.cache.get(address);
    if (hit !== undefined) return hit;
    const a = parseNet(address);
    let found: InventoryEntry | null = null;
    if (a) {
      for (const t of this.byPrefix) {
        if (t.family !== a.family) continue;
        const e = t.map.get(maskedKey(a, t.bits));
        if (e) {
          found = e;
          break;
        }
      }
    }
    if (this.cache.size >= LOOKUP_CACHE) this.cache.clear();
    this.cache.set(address, found);
    return found;
  }

  /** Exchange versions the inventory names (for "the rules of every version present apply"). */
  versions(): Set<string> {
    return new Set(this.entries.map((e) => e.version).filter((v): v is string => v !== null));
  }
}

/** The first `bits` bits of an address as a Map key. */
function maskedKey(net: Net, bits: number): string {
  const w = [...net.words];
  const first = net.family === 4 ? 3 : 0;
  let left = bits;
  for (let i = first; i < 4; i++) {
    const take = Math.max(0, Math.min(32, left));
    w[i] = take === 0 ? 0 : take === 32 ? w[i] : (w[i] & ~(0xffffffff >>> take)) >>> 0;
    left -= take;
  }
  return `${w[0]}.${w[1]}.${w[2]}.${w[3]}`;
}

/**
 * The same address or block twice is an error naming both lines: which roles
 * apply would otherwise depend on the order of the file.
 */
function refuseDuplicates(path: string, entries: InventoryEntry[]): void {
  const seen = new Map<string, InventoryEntry>();
  for (const e of entries) {
    const key = `${e.net.family}/${e.net.bits}/${maskedKey(e.net, e.net.bits)}`;
    const had = seen.get(key);
    if (had) {
      const same = had.roles.join(',') === e.roles.join(',');
      const line = Number(e.source.slice(e.source.lastIndexOf(':') + 1));
      throw new RulesError(path, line, `${e.address} is listed again (first at ${had.source})${same ? '' : ` with other roles (${had.roles.join(', ')} there, ${e.roles.join(', ')} here)`}; give each address or block once`);
    }
    seen.set(key, e);
  }
}

/** The roles' ids (an old id, such as outlook-2007, becomes the role's id now). */
function checkRoles(roles: string[], rules: RuleSet, fail: (problem: string) => never): string[] {
  if (roles.length === 0) fail('give at least one role');
  const ids = roles.map((r) => roleNamed(rules.roles, r)?.id ?? fail(`unknown role "${r}" (see "exflow rules show roles")`));
  return [...new Set(ids)];
}

function checkNet(text: string, fail: (problem: string) => never): Net {
  const net = parseNet(text);
  if (!net) fail(`"${text}" is not an IPv4/IPv6 address or CIDR block`);
  return net;
}

function fromYaml(path: string, rules: RuleSet): InventoryEntry[] {
  const rf = RulesFile.read(path);
  rf.checkTopKeys(['hosts']);
  const list = rf.list('hosts', { bareIsEmpty: true });
  if (!list) throw new RulesError(path, 1, 'expected a "hosts:" list');
  return list.map((e) => {
    e.checkKeys(['address', 'roles', 'name', 'site', 'version']);
    const address = e.str('address');
    const net = checkNet(address, (p) => e.fail('address', p));
    const roles = checkRoles(e.strList('roles'), rules, (p) => e.fail('roles', p));
    return { address, net, roles, name: e.str('name', true) ?? null, site: e.str('site', true) ?? null, version: e.str('version', true) ?? null, source: `${path}:${e.line}` };
  });
}

/**
 * CSV (RFC 4180, as Excel writes it: quoted fields, doubled quotes, commas and
 * line breaks inside quotes, a BOM) with a header naming at least address and
 * roles; roles separated by ";" or "|". Read with csv-parse.
 */
function fromCsv(path: string, text: string, rules: RuleSet): InventoryEntry[] {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    // A line whose first character (after blanks) is "#" is a comment — exflow hosts writes the
    // inferred hosts so, to confirm by removing the "# " — blanked, not removed, so line numbers hold.
    const uncommented = text.replace(/^[ \t]*#[^\r\n]*/gm, '');
    records = parseCsv(uncommented, { bom: true, info: true, relax_column_count: true, skip_empty_lines: true, trim: true }) as unknown as typeof records;
  } catch (e) {
    const line = (e as { lines?: number }).lines ?? 1;
    throw new RulesError(path, line, `CSV: ${(e as Error).message.replace(/^Invalid \w+:\s*/, '')}`);
  }
  if (records.length === 0) throw new RulesError(path, 1, 'empty inventory');
  const header = records[0].record.map((h) => h.toLowerCase());
  const col = (n: string) => header.indexOf(n);
  if (col('address') < 0 || col('roles') < 0) throw new RulesError(path, 1, 'the header must name at least "address" and "roles" (and may add name, site, version)');
  for (const h of header) if (!['address', 'roles', 'name', 'site', 'version'].includes(h)) throw new RulesError(path, 1, `unknown column "${h}"`);
  const out: InventoryEntry[] = [];
  for (const { record: cells, info } of records.slice(1)) {
    const n = info.lines;
    if (cells.length === 1 && cells[0].startsWith('#')) continue;
    const fail = (p: string): never => {
      throw new RulesError(path, n, p);
    };
    if (cells.length !== header.length) fail(`${cells.length} fields, the header has ${header.length}`);
    const get = (name: string) => (col(name) >= 0 && cells[col(name)] !== '' ? cells[col(name)] : null);
    const address = get('address') ?? fail('no address');
    const net = checkNet(address, fail);
    const roles = checkRoles((get('roles') ?? '').split(/[;|]/).map((r) => r.trim()).filter(Boolean), rules, fail);
    out.push({ address, net, roles, name: get('name'), site: get('site'), version: get('version'), source: `${path}:${n}` });
  }
  return out;
}

/** Reads an inventory file; YAML unless its first line looks like a CSV header. Throws RulesError. */
export function loadInventory(path: string, rules: RuleSet): Inventory {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new RulesError(path, 0, `cannot read the inventory: ${(e as Error).message}`);
  }
  const first = text.replace(/^\ufeff/, '').split('\n', 1)[0].trim().toLowerCase().replace(/"/g, '');
  const entries = /^address\s*,/.test(first) || /,\s*roles\b/.test(first) ? fromCsv(path, text, rules) : fromYaml(path, rules);
  refuseDuplicates(path, entries);
  return new Inventory(entries);
}
