import { roleNamed, type Role } from './roles';
import type { Service } from './services';
import type { Entry } from './source';

export type Confidence = 'high' | 'medium' | 'low';

/** One rule of rules/inference.yaml: evidence about what a host serves or uses → role(s). */
export interface InferenceRule {
  id: string;
  roles: string[];
  servesAll: string[];
  servesAny: string[];
  usesAny: string[];
  /** The host was seen using none of these (with uses_any: it was seen using others). */
  usesNone: string[];
  /** A host the matched services were served to serves one of these itself (a front end: 2010's Client Access server to its Mailbox). */
  clientsServeAny: string[];
  /** A host the matched services were served to serves none of these (an end client, such as Outlook). */
  clientsServeNone: string[];
  /** Roles the evidence says the host is not: taken from what other rules give it. */
  rulesOut: string[];
  /** The host serves no service at all (a client). */
  servesNone: boolean;
  /** At least one of these name-evidence tokens is about a name of the host ("dns-srv:_ldap._tcp.dc._msdcs", "kerberos-spn:exchangemdb", "dns-mx"). */
  namedAny: string[];
  /** The host's address: 'public' (outside the private, link-local and shared ranges) or 'private'; null = either. */
  address: 'public' | 'private' | null;
  confidence: Confidence;
  cite: string[];
  note: string;
  source: string;
}

const CONFIDENCE: Confidence[] = ['high', 'medium', 'low'];
/** The kinds of name evidence the capture gives (src/classify/names.ts). */
export const NAMED_KINDS = ['dns-srv', 'dns-mx', 'kerberos-spn'];

export function parseInferenceRule(e: Entry, roles: Map<string, Role>, services: Map<string, Service>): InferenceRule {
  e.checkKeys(['id', 'roles', 'rules_out', 'serves_all', 'serves_any', 'clients_serve_any', 'clients_serve_none', 'uses_any', 'uses_none', 'serves_none', 'named_any', 'address', 'confidence', 'cite', 'note']);
  const list = (key: string, known: Map<string, unknown>, what: string): string[] => {
    const xs = e.strList(key, true);
    xs.forEach((x, i) => {
      if (!known.has(x)) e.file.fail(e.itemNode(key, i), `unknown ${what} "${x}"`);
    });
    return xs;
  };
  // Roles by their ids now (an alias, such as outlook-2007, names the role it was).
  const roleList = (key: string): string[] => e.strList(key, true).map((x, i) => roleNamed(roles, x)?.id ?? e.file.fail(e.itemNode(key, i), `unknown role "${x}"`));
  const rule: InferenceRule = {
    id: e.str('id'),
    roles: roleList('roles'),
    rulesOut: roleList('rules_out'),
    servesAll: list('serves_all', services, 'service'),
    servesAny: list('serves_any', services, 'service'),
    usesAny: list('uses_any', services, 'service'),
    usesNone: list('uses_none', services, 'service'),
    clientsServeAny: list('clients_serve_any', services, 'service'),
    clientsServeNone: list('clients_serve_none', services, 'service'),
    servesNone: e.bool('serves_none', false),
    namedAny: e.strList('named_any', true).map((t) => t.toLowerCase()),
    address: (e.str('address', true) ?? null) as 'public' | 'private' | null,
    confidence: e.str('confidence') as Confidence,
    cite: e.strList('cite'),
    note: e.str('note', true) ?? '',
    source: `${e.file.path}:${e.line}`,
  };
  if (rule.roles.length + rule.rulesOut.length === 0) e.fail('roles', 'name at least one role (or one the evidence rules out, in rules_out)');
  const both = rule.roles.find((r) => rule.rulesOut.includes(r));
  if (both) e.fail('rules_out', `"${both}" is both given and ruled out`);
  const usedAndNot = rule.usesAny.find((x) => rule.usesNone.includes(x));
  if (usedAndNot) e.fail('uses_none', `"${usedAndNot}" is in uses_any too`);
  if (!CONFIDENCE.includes(rule.confidence)) e.fail('confidence', `confidence must be one of ${CONFIDENCE.join(', ')}`);
  if (rule.servesAll.length + rule.servesAny.length + rule.usesAny.length + rule.namedAny.length === 0) e.fail(null, 'give serves_all, serves_any, uses_any or named_any');
  if (rule.address !== null && rule.address !== 'public' && rule.address !== 'private') e.fail('address', 'address must be public or private');
  rule.namedAny.forEach((t, i) => {
    if (!NAMED_KINDS.some((k) => t === k || t.startsWith(`${k}:`))) e.file.fail(e.itemNode('named_any', i), `unknown name evidence "${t}" (kinds: ${NAMED_KINDS.join(', ')}, alone or with ":detail")`);
  });
  if (rule.clientsServeAny.length + rule.clientsServeNone.length > 0 && rule.servesAll.length + rule.servesAny.length === 0) e.fail('clients_serve_any', 'clients_serve_any and clients_serve_none are about the clients of what serves_all/serves_any name: give one of them');
  if (rule.servesNone && rule.servesAll.length + rule.servesAny.length > 0) e.fail('serves_none', 'serves_none contradicts serves_all/serves_any');
  return rule;
}

/**
 * What the role inference needs to know of a host's clients: for each service a rule asks about
 * its clients (`served`, from serves_all and serves_any), which of `profile` (the services the
 * clients_serve_any and clients_serve_none lists name) each client serves itself.
 */
export function clientProfiles(rules: InferenceRule[]): { served: string[]; profile: string[] } {
  const asking = rules.filter((r) => r.clientsServeAny.length + r.clientsServeNone.length > 0);
  return {
    served: [...new Set(asking.flatMap((r) => [...r.servesAll, ...r.servesAny]))].sort(),
    profile: [...new Set(asking.flatMap((r) => [...r.clientsServeAny, ...r.clientsServeNone]))].sort(),
  };
}
