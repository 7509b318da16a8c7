// The inventory: what the user knows about hosts — address or CIDR → role(s),
// name, site, Exchange version — from YAML or CSV. A host matches its most
// specific entry (longest prefix); errors name the file and line like rules errors.
import * as fs from 'node:fs';
import type { RuleSet } from '../rules/load';
import { RulesError, RulesFile } from '../rules/source';
import { contains, parseNet, type Net } from './ip';

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

export class Inventory {
  constructor(readonly entries: InventoryEntry[]) {}

  /** The most specific entry containing `address`, or null. */
  lookup(address: string): InventoryEntry | null {
    if (this.entries.length === 0) return null;
    const a = parseNet(address);
    if (!a) return null;
    let best: InventoryEntry | null = null;
    for (const e of this.entries) if (contains(e.net, a) && (!best || e.net.bits > best.net.bits)) best = e;
    return best;
  }

  /** Exchange versions the inventory names (for "the rules of every version present apply"). */
  versions(): Set<string> {
    return new Set(this.entries.map((e) => e.version).filter((v): v is string => v !== null));
  }
}

function checkRoles(roles: string[], rules: RuleSet, fail: (problem: string) => never): void {
  if (roles.length === 0) fail('give at least one role');
  for (const r of roles) if (!rules.roles.has(r)) fail(`unknown role "${r}" (see "exflow rules show roles")`);
}

function checkNet(text: string, fail: (problem: string) => never): Net {
  const net = parseNet(text);
  if (!net) fail(`"${text}" is not an IPv4/IPv6 address or CIDR block`);
  return net;
}

function fromYaml(path: string, rules: RuleSet): InventoryEntry[] {
  const rf = RulesFile.read(path);
  rf.checkTopKeys(['hosts']);
  const list = rf.list('hosts');
  if (!list) throw new RulesError(path, 1, 'expected a "hosts:" list');
  return list.map((e) => {
    e.checkKeys(['address', 'roles', 'name', 'site', 'version']);
    const address = e.str('address');
    const net = checkNet(address, (p) => e.fail('address', p));
    const roles = e.strList('roles');
    checkRoles(roles, rules, (p) => e.fail('roles', p));
    return { address, net, roles, name: e.str('name', true) ?? null, site: e.str('site', true) ?? null, version: e.str('version', true) ?? null, source: `${path}:${e.line}` };
  });
}

/** CSV with a header naming at least address and roles (roles separated by ";" or "|"). */
function fromCsv(path: string, text: string, rules: RuleSet): InventoryEntry[] {
  const lines = text.split(/\r?\n/);
  const header = lines[0].split(',').map((h) => h.trim().toLowerCase());
  const col = (n: string) => header.indexOf(n);
  if (col('address') < 0 || col('roles') < 0) throw new RulesError(path, 1, 'the header must name at least "address" and "roles" (and may add name, site, version)');
  for (const h of header) if (!['address', 'roles', 'name', 'site', 'version'].includes(h)) throw new RulesError(path, 1, `unknown column "${h}"`);
  const out: InventoryEntry[] = [];
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const n = i + 2;
    const fail = (p: string): never => {
      throw new RulesError(path, n, p);
    };
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length !== header.length) fail(`${cells.length} fields, the header has ${header.length}`);
    const get = (name: string) => (col(name) >= 0 && cells[col(name)] !== '' ? cells[col(name)] : null);
    const address = get('address') ?? fail('no address');
    const net = checkNet(address, fail);
    const roles = (get('roles') ?? '').split(/[;|]/).map((r) => r.trim()).filter(Boolean);
    checkRoles(roles, rules, fail);
    out.push({ address, net, roles, name: get('name'), site: get('site'), version: get('version'), source: `${path}:${n}` });
  });
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
  const first = text.split('\n', 1)[0].trim().toLowerCase();
  const entries = /^address\s*,/.test(first) || /,\s*roles\b/.test(first) ? fromCsv(path, text, rules) : fromYaml(path, rules);
  return new Inventory(entries);
}
