import { roleNamed, type Role } from './roles';
import type { Service } from './services';
import type { Entry } from './source';

/**
 * One cell of a role×role table: the services that may flow between `from` (the
 * computer the seed's row names) and `to` (the one its section is about). `any`
 * allows every service (003: internal Exchange 2013 servers and DCs, unrestricted).
 */
export interface MatrixRule {
  id: string;
  versions: string[];
  from: string;
  to: string;
  services: string[];
  any: boolean;
  text: string;
  cite: string[];
  note: string;
  /** Services the table says are encrypted (SSL/TLS) between the two roles: a flow of them in clear is an encryption finding. */
  encrypted: string[];
  /** Where the table says so. */
  encryptedCite: string[];
  source: string;
}

export function parseMatrixRule(e: Entry, roles: Map<string, Role>, services: Map<string, Service>): MatrixRule {
  e.checkKeys(['id', 'versions', 'from', 'to', 'services', 'any', 'text', 'text_ru', 'cite', 'note', 'encrypted', 'encrypted_cite']);
  const role = (k: 'from' | 'to'): string => {
    const id = e.str(k);
    const r = roleNamed(roles, id);
    if (!r) e.fail(k, `unknown role "${id}"`);
    return r.id;
  };
  const from = role('from');
  const to = role('to');
  const list = e.strList('services', true);
  list.forEach((s, i) => {
    if (!services.has(s)) e.file.fail(e.itemNode('services', i), `unknown service "${s}"`);
  });
  const any = e.bool('any', false);
  if (!e.has('services') && !any) e.fail(null, 'give "services" (a list, [] for no direct connection) or "any: true"');
  const versions = e.strList('versions');
  if (versions.length === 0) e.fail('versions', 'say which Exchange version(s) this rule is about');
  const cite = e.strList('cite');
  if (cite.length === 0) e.fail('cite', 'cite the seed and section');
  const encrypted = e.strList('encrypted', true);
  encrypted.forEach((s, i) => {
    if (!list.includes(s)) e.file.fail(e.itemNode('encrypted', i), `"${s}" is not among this rule's services`);
  });
  const encryptedCite = e.strList('encrypted_cite', true);
  if (encrypted.length > 0 && encryptedCite.length === 0) e.fail('encrypted_cite', 'say where the table says these are encrypted');
  return { id: e.str('id'), versions, from, to, services: list, any, text: e.str('text', true) ?? '', cite, note: e.str('note', true) ?? '', encrypted, encryptedCite, source: `${e.file.path}:${e.line}` };
}
