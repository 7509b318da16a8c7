import type { Entry } from './source';

/** One entry of rules/http-apps.yaml: an Exchange application by the path its requests go to. */
export interface HttpApp {
  id: string;
  name: string;
  /** Lower-case path prefixes ("/owa/", "/owa"); a request's path matches case-insensitively. */
  paths: string[];
  cite: string[];
  note: string;
  source: string;
}

const ID = /^[a-z0-9][a-z0-9.-]*$/;

export function parseHttpApp(e: Entry): HttpApp {
  e.checkKeys(['id', 'name', 'paths', 'cite', 'note']);
  const id = e.str('id');
  if (!ID.test(id)) e.fail('id', `id "${id}" must be lower case letters, digits, dots and dashes`);
  const paths = e.strList('paths').map((p) => p.toLowerCase());
  paths.forEach((p, i) => {
    if (!p.startsWith('/')) e.file.fail(e.itemNode('paths', i), `a path begins with "/", not "${p}"`);
  });
  const cite = e.strList('cite');
  if (cite.length === 0) e.fail('cite', 'say where the path is documented');
  return { id, name: e.str('name'), paths, cite, note: e.str('note', true) ?? '', source: `${e.file.path}:${e.line}` };
}

/** The application a request path belongs to: the longest matching prefix wins. */
export function httpAppOf(apps: HttpApp[], path: string): HttpApp | null {
  const p = path.toLowerCase();
  let best: HttpApp | null = null;
  let bestLen = 0;
  for (const a of apps) {
    for (const prefix of a.paths) {
      if (prefix.length > bestLen && (p === prefix || p.startsWith(prefix.endsWith('/') ? prefix : prefix + '/') || p.startsWith(prefix + '?'))) {
        best = a;
        bestLen = prefix.length;
      }
    }
  }
  return best;
}
