import type { Entry } from './source';

/**
 * One entry of rules/protection.yaml: a finding about how a flow authenticates or is
 * protected, the condition on the flow's columns that raises it, and the Microsoft
 * guidance (or standard) it comes from.
 */
export interface ProtectionFinding {
  id: string;
  severity: Severity;
  /** The sentence a user reads (English). */
  title: string;
  /** What to do about it. */
  advice: string;
  /** column → values: every column's value must be one of its values. */
  when: Record<string, string[]>;
  /** column → values: the finding is not raised when any of these match. */
  unless: Record<string, string[]>;
  /** Where the requirement is written: document, section, address. */
  cite: string[];
  source: string;
}

export const SEVERITIES = ['high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/**
 * The flow columns a condition may name, and for each the values it can take (null:
 * any text). A condition naming another column or value is a rules error, so a typo
 * cannot make a finding silently never fire.
 */
export const CONDITION_COLUMNS: Record<string, readonly string[] | null> = {
  service: null,
  tls: ['implicit', 'starttls', 'none'],
  tls_version: null,
  tls_client_versions: null,
  auth_mech: ['ntlm', 'kerberos', 'basic', 'digest', 'simple', 'plain', 'login', 'cram-md5', 'anonymous', 'external', 'schannel', 'netlogon'],
  ntlm_version: ['lm', 'v1', 'v2', 'anonymous'],
  ntlm_mic: ['true', 'false'],
  ntlm_channel_bindings: ['true', 'false'],
  rpc_auth_level: ['none', 'connect', 'call', 'packet', 'integrity', 'privacy'],
  rpc_auth_type: null,
  smb_dialect: null,
  smb_signing: ['required', 'enabled', 'off'],
  smb_encrypted: ['true', 'false'],
  smb1_offered: ['true', 'false'],
  ldap_bind: null,
  ldap_protection: ['tls', 'sasl-sign', 'sasl-seal', 'none', 'unbound'],
  cleartext_credentials: ['true', 'false'],
};

/** Columns holding a comma-separated list: a condition matches when any element is one of its values. */
export const LIST_COLUMNS = new Set(['tls_client_versions', 'auth_mech']);

const ID = /^[a-z0-9][a-z0-9-]*$/;

export function parseProtectionFinding(e: Entry): ProtectionFinding {
  e.checkKeys(['id', 'severity', 'title', 'advice', 'when', 'unless', 'cite']);
  const id = e.str('id');
  if (!ID.test(id)) e.fail('id', `id "${id}" must be lower case letters, digits and dashes`);
  const severity = e.str('severity') as Severity;
  if (!SEVERITIES.includes(severity)) e.fail('severity', `severity must be one of ${SEVERITIES.join(', ')}`);
  const when = condition(e, 'when');
  if (Object.keys(when).length === 0) e.fail('when', 'a finding needs at least one condition');
  const cite = e.strList('cite');
  if (cite.length === 0) e.fail('cite', 'say where the requirement is written');
  return { id, severity, title: e.str('title'), advice: e.str('advice'), when, unless: e.has('unless') ? condition(e, 'unless') : {}, cite, source: `${e.file.path}:${e.line}` };
}

function condition(e: Entry, key: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [column, values] of e.strMap(key)) {
    if (!(column in CONDITION_COLUMNS)) e.fail(key, `"${column}" is not a column a condition can name (one of: ${Object.keys(CONDITION_COLUMNS).join(', ')})`);
    const allowed = CONDITION_COLUMNS[column];
    for (const v of values) if (allowed && !allowed.includes(v)) e.fail(key, `"${v}" is not a value of ${column} (one of: ${allowed.join(', ')})`);
    if (values.length === 0) e.fail(key, `"${column}" lists no values`);
    out[column] = values;
  }
  return out;
}
