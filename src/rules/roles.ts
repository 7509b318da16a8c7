import type { Entry } from './source';

export type RoleKind = 'server' | 'client' | 'external';

/** One role from rules/roles.yaml. */
export interface Role {
  id: string;
  name: string;
  versions: string[];
  kind: RoleKind;
  /** A server inside the organisation (an Exchange server but the Edge, a domain controller). */
  internal: boolean;
  cite: string[];
  note: string;
  /** Ids this role had before (an inventory, a site rule or --role may still give them). */
  aliases: string[];
  source: string;
}

const ID = /^[a-z0-9][a-z0-9.-]*$/;
const KINDS: RoleKind[] = ['server', 'client', 'external'];

export function parseRole(e: Entry): Role {
  e.checkKeys(['id', 'name', 'versions', 'kind', 'internal', 'cite', 'note', 'aliases']);
  const id = e.str('id');
  if (!ID.test(id)) e.fail('id', `role id "${id}" must be lower case letters, digits, dots and dashes`);
  const kind = e.str('kind') as RoleKind;
  if (!KINDS.includes(kind)) e.fail('kind', `unknown kind "${kind}" (one of: ${KINDS.join(', ')})`);
  const cite = e.strList('cite');
  if (cite.length === 0) e.fail('cite', 'cite the seed and section naming the role');
  const aliases = e.strList('aliases', true);
  aliases.forEach((a, i) => {
    if (!ID.test(a) || a === id) e.file.fail(e.itemNode('aliases', i), `alias "${a}" must be another id of lower case letters, digits, dots and dashes`);
  });
  return { id, name: e.str('name'), versions: e.strList('versions', true), kind, internal: e.bool('internal', false), cite, note: e.str('note', true) ?? '', aliases, source: `${e.file.path}:${e.line}` };
}

/**
 * The role `id` names: its own id, or the role that lists it among its aliases (a role renamed
 * keeps its old id working in inventories, site rules and --role). Undefined when none does.
 */
export function roleNamed(roles: Map<string, Role>, id: string): Role | undefined {
  const own = roles.get(id);
  if (own) return own;
  for (const r of roles.values()) if (r.aliases.includes(id)) return r;
  return undefined;
}
