import type { RuleSet } from '../rules/load';
import type { Row } from './format';

export interface RulesTable {
  section: 'services' | 'rpc' | 'roles' | 'matrix' | 'http-apps' | 'versions' | 'protection';
  title: string;
  columns: string[];
  rows: Row[];
}

/** The rules in readable rows, one table per section. */
export function rulesTables(rules: RuleSet): RulesTable[] {
  return [
    {
      section: 'services',
      title: 'Services',
      columns: ['id', 'name', 'transport', 'ports', 'by_port', 'cite'],
      rows: rules.services.map((s) => ({
        id: s.id,
        name: s.name,
        transport: s.transports.join('/'),
        ports: s.ranges.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`)).join(',') || (s.rpc ? '(RPC interface)' : ''),
        by_port: s.byPort && s.ranges.length > 0,
        cite: s.cite.join('; '),
      })),
    },
    {
      section: 'rpc',
      title: 'RPC interfaces',
      columns: ['name', 'uuid', 'version', 'service', 'title'],
      rows: [...rules.rpcInterfaces.values()].map((i) => ({ name: i.name, uuid: i.uuid, version: i.version, service: i.service, title: i.title })),
    },
    {
      section: 'roles',
      title: 'Roles',
      columns: ['id', 'name', 'kind', 'versions', 'aliases', 'cite'],
      rows: [...rules.roles.values()].map((r) => ({ id: r.id, name: r.name, kind: r.kind, versions: r.versions.join(', '), aliases: r.aliases.join(', '), cite: r.cite.join('; ') })),
    },
    {
      section: 'matrix',
      title: 'Role × role matrix (from → to: services)',
      columns: ['id', 'from', 'to', 'services', 'encrypted', 'cite'],
      rows: rules.matrix.map((m) => ({
        id: m.id,
        from: m.from,
        to: m.to,
        services: m.any ? '(any)' : m.services.length ? m.services.join(', ') : '(no direct connection)',
        encrypted: m.encrypted.join(', '),
        cite: m.cite.join('; '),
      })),
    },
    {
      section: 'http-apps',
      title: 'Exchange applications by HTTP path',
      columns: ['id', 'name', 'paths', 'cite'],
      rows: rules.httpApps.map((a) => ({ id: a.id, name: a.name, paths: a.paths.join(', '), cite: a.cite.join('; ') })),
    },
    {
      section: 'versions',
      title: 'Exchange versions (how written → the tables that judge them)',
      columns: ['id', 'names', 'tables', 'cite'],
      rows: rules.versions.map((v) => ({ id: v.id, names: v.names.join(', '), tables: v.tables.join(', '), cite: v.cite.join('; ') })),
    },
    {
      section: 'protection',
      title: 'Protection findings (raised when the flow\'s columns say …)',
      columns: ['id', 'severity', 'title', 'when', 'unless', 'cite'],
      rows: rules.protection.map((p) => ({
        id: p.id,
        severity: p.severity,
        title: p.title,
        when: Object.entries(p.when).map(([k, v]) => `${k} = ${v.join('|')}`).join(' and '),
        unless: Object.entries(p.unless).map(([k, v]) => `${k} = ${v.join('|')}`).join(' or '),
        cite: p.cite.join('; '),
      })),
    },
  ];
}
