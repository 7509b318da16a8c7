// The protection audit: which findings of rules/protection.yaml a flow raises, from
// its service, its TLS verdict and its protection columns. Evaluated once per flow as
// it is written (the rules name columns; the mechanism here only compares values).
import type { PayloadFacts } from '../classify/payload';
import type { ProtectionFacts } from '../classify/protection';
import { LIST_COLUMNS, type ProtectionFinding } from '../rules/protection';

/** A flow's values under the column names the rules use; booleans as "true"/"false", unknown as null. */
export function conditionValues(service: string | null, p: PayloadFacts, f: ProtectionFacts): Record<string, string | null> {
  const b = (v: boolean | null) => (v === null ? null : v ? 'true' : 'false');
  return {
    service,
    tls: p.tls,
    tls_version: p.tlsVersion,
    tls_client_versions: f.tlsClientVersions,
    auth_mech: f.authMech,
    ntlm_version: f.ntlmVersion,
    ntlm_mic: b(f.ntlmMic),
    ntlm_channel_bindings: b(f.ntlmChannelBindings),
    rpc_auth_level: f.rpcAuthLevel,
    rpc_auth_type: f.rpcAuthType,
    smb_dialect: f.smbDialect,
    smb_signing: f.smbSigning,
    smb_encrypted: b(f.smbEncrypted),
    smb1_offered: b(f.smb1Offered),
    ldap_bind: f.ldapBind,
    ldap_protection: f.ldapProtection,
    cleartext_credentials: b(f.cleartextCredentials),
  };
}

function matches(values: Record<string, string | null>, column: string, wanted: string[]): boolean {
  const v = values[column];
  if (v === null || v === undefined) return false;
  if (LIST_COLUMNS.has(column)) return v.split(',').some((x) => wanted.includes(x));
  return wanted.includes(v);
}

/** The ids of the findings a flow raises, in the rules' order. */
export function protectionFindings(findings: readonly ProtectionFinding[], values: Record<string, string | null>): string[] {
  const out: string[] = [];
  for (const f of findings) {
    let hit = true;
    for (const column in f.when) {
      if (!matches(values, column, f.when[column])) {
        hit = false;
        break;
      }
    }
    if (!hit) continue;
    for (const column in f.unless) {
      if (matches(values, column, f.unless[column])) {
        hit = false;
        break;
      }
    }
    if (hit) out.push(f.id);
  }
  return out;
}
