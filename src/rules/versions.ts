import type { Entry } from './source';

/** One Exchange version of rules/versions.yaml: how an inventory may write it, and which tables judge its flows. */
export interface ExchangeVersion {
  id: string;
  /** How the version may be written (lower case): "2010", "14", "exchange 2010"…; matched as a whole word at the start. */
  names: string[];
  /** The matrix versions (the `versions` of matrix rules) whose tables apply to a host of this version. */
  tables: string[];
  cite: string[];
  note: string;
  /** Microsoft does not support firewalls between this version's internal servers: where it says so. */
  internalFirewallsUnsupported: string[] | null;
  source: string;
}

export function parseVersion(e: Entry): ExchangeVersion {
  e.checkKeys(['id', 'names', 'tables', 'cite', 'note', 'internal_firewalls', 'internal_firewalls_cite']);
  const fw = e.str('internal_firewalls', true);
  if (fw !== undefined && fw !== 'unsupported') e.fail('internal_firewalls', 'internal_firewalls is "unsupported" or absent');
  const fwCite = e.strList('internal_firewalls_cite', true);
  if (fw && fwCite.length === 0) e.fail('internal_firewalls_cite', 'say where Microsoft says so');
  const cite = e.strList('cite');
  if (cite.length === 0) e.fail('cite', 'say where the version and its ports are documented');
  const tables = e.strList('tables');
  if (tables.length === 0) e.fail('tables', 'name the tables (matrix versions) that judge this version');
  return { id: e.str('id'), names: e.strList('names').map((n) => n.toLowerCase()), tables, cite, note: e.str('note', true) ?? '', internalFirewallsUnsupported: fw ? fwCite : null, source: `${e.file.path}:${e.line}` };
}

/** The version an inventory's text names ("Exchange 2010 SP3", "15.1.2507.6", "2019"), or null. */
export function versionOf(versions: ExchangeVersion[], text: string | null | undefined): ExchangeVersion | null {
  if (!text) return null;
  const t = text.toLowerCase().trim().replace(/^(microsoft\s+)?(exchange\s+)?(server\s+)?/, '');
  // A name matches as a whole: followed by nothing, a space, or (for a build number) a dot and more digits.
  const fits = (n: string) => t === n || t.startsWith(n + ' ') || (/^\d+\.\d+$/.test(n) && t.startsWith(n + '.'));
  for (const v of versions) for (const n of v.names) if (fits(n)) return v;
  return null;
}
