import type { Role } from './roles';
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
  confidence: Confidence;
  cite: string[];
  note: string;
  source: string;
}

const CONFIDENCE: Confidence[] = ['high', 'medium', 'low'];

export function parseInferenceRule(e: Entry, roles: Map<string, Role>, services: Map<string, Service>): InferenceRule {
  e.checkKeys(['id', 'roles', 'serves_all', 'serves_any', 'uses_any', 'confidence', 'cite', 'note']);
  const list = (key: string, known: Map<string, unknown>, what: string): string[] => {
    const xs = e.strList(key, true);
    xs.forEach((x, i) => {
      if (!known.has(x)) e.file.fail(e.itemNode(key, i), `unknown ${what} "${x}"`);
    });
    return xs;
  };
  const rule: InferenceRule = {
    id: e.str('id'),
    roles: list('roles', roles, 'role'),
    servesAll: list('serves_all', services, 'service'),
    servesAny: list('serves_any', services, 'service'),
    usesAny: list('uses_any', services, 'service'),
    confidence: e.str('confidence') as Confidence,
    cite: e.strList('cite'),
    note: e.str('note', true) ?? '',
    source: `${e.file.path}:${e.line}`,
  };
  if (rule.roles.length === 0) e.fail('roles', 'name at least one role');
  if (!CONFIDENCE.includes(rule.confidence)) e.fail('confidence', `confidence must be one of ${CONFIDENCE.join(', ')}`);
  if (rule.servesAll.length + rule.servesAny.length + rule.usesAny.length === 0) e.fail(null, 'give serves_all, serves_any or uses_any');
  return rule;
}
