// How a flow authenticated and how it is protected, as the columns the database
// keeps (auth_mech … tls_client_versions): gathered from whichever inspector read
// the flow. NULL where the capture does not show it.
import { AuthFacts } from '../inspect/auth/facts';
import { RpcConnection } from '../inspect/dcerpc/connection';
import { SmbPipes } from '../inspect/dcerpc/smb';
import { AUTH_LEVELS, authTypeName } from '../inspect/dcerpc/pdu';
import { HttpRequest } from '../inspect/http';
import { KdcExchange } from '../inspect/kerberos';
import { LdapSession } from '../inspect/ldap';
import { StartTls } from '../inspect/starttls';
import { TlsHandshake } from '../inspect/tls';
import type { FlowInspector } from '../flow/inspector';
import type { WireName } from '../inspect/auth/facts';

export interface ProtectionFacts {
  authMech: string | null;
  authAccount: string | null;
  authWorkstation: string | null;
  ntlmVersion: string | null;
  ntlmMic: boolean | null;
  ntlmChannelBindings: boolean | null;
  rpcAuthLevel: string | null;
  rpcAuthType: string | null;
  smbDialect: string | null;
  smbSigning: string | null;
  smbEncrypted: boolean | null;
  smb1Offered: boolean | null;
  ldapBind: string | null;
  ldapProtection: string | null;
  cleartextCredentials: boolean | null;
  tlsClientVersions: string | null;
  /** The Kerberos service principal of the flow's ticket or request. */
  kerberosSpn: string | null;
  /** Names the flow's packets gave its hosts (an NTLM CHALLENGE's target information). */
  names: WireName[];
}

export const NO_PROTECTION: ProtectionFacts = {
  authMech: null, authAccount: null, authWorkstation: null, ntlmVersion: null, ntlmMic: null, ntlmChannelBindings: null,
  rpcAuthLevel: null, rpcAuthType: null, smbDialect: null, smbSigning: null, smbEncrypted: null, smb1Offered: null,
  ldapBind: null, ldapProtection: null, cleartextCredentials: null, tlsClientVersions: null, kerberosSpn: null, names: [],
};

/** The auth facts an inspector holds (after its finish, which the classifier has called). */
function authOf(ins: FlowInspector): AuthFacts | null {
  if (ins instanceof RpcConnection || ins instanceof SmbPipes || ins instanceof StartTls || ins instanceof LdapSession || ins instanceof HttpRequest || ins instanceof KdcExchange) return ins.authSeen;
  return null;
}

function tlsOf(ins: FlowInspector): TlsHandshake | null {
  if (ins instanceof TlsHandshake) return ins;
  if (ins instanceof StartTls || ins instanceof LdapSession) return ins.tls;
  if (ins instanceof HttpRequest) return ins.tunnel;
  return null;
}

/**
 * The level a DCE/RPC connection's calls travelled at: the lowest of its requests'. A
 * request with a trailer says its level; one without says none — or connect, whose
 * requests carry no verifier either ([MS-RPCE] 2.2.2.11, 3.3.1.5.2): the bind tells which.
 * With no request captured, what the binds said; with requests but no bind, only those
 * with trailers.
 */
function rpcLevelOf(a: AuthFacts): { level: number; type: number } | null {
  let best: { level: number; type: number } | null = a.requestLevel > 0 ? { level: a.requestLevel, type: a.requestType } : null;
  if (a.bareRequests && a.rpcLevel > 0) {
    const bare = a.rpcLevel === 1 ? { level: 1, type: 0 } : { level: 2, type: a.rpcType };
    if (!best || bare.level < best.level) best = bare;
  }
  if (best) return best;
  // Only calls that set up the protection (Netlogon's challenge and authenticate): by design they
  // carry no RPC authentication, and nothing after them was sent to judge the channel by.
  if (a.setupRequests > 0) return null;
  return a.rpcLevel > 0 ? { level: a.rpcLevel, type: a.rpcType } : null;
}

/**
 * The protection columns of a flow. `tls` is the flow's payload verdict
 * (implicit, starttls, none): a password counts as in clear only on a flow
 * that was not under TLS when it was sent, which the readers already decide.
 */
export function protectionOf(ins: FlowInspector | null): ProtectionFacts {
  if (!ins) return NO_PROTECTION;
  const a = authOf(ins);
  const hs = tlsOf(ins);
  const smb = ins instanceof SmbPipes ? ins.smb : null;
  const ldap = ins instanceof LdapSession ? ins : null;
  const tlsVersions = hs?.clientHello ? hs.facts.clientVersions : null;
  const seen = a !== null && (a.mech !== null || a.rpcLevel > 0 || a.requestLevel > 0 || a.setupRequests > 0 || a.names.length > 0 || a.spn !== null || a.workstation !== null);
  if (!seen && !smb?.dialect && !smb?.encrypted && smb?.smb1Offered == null && !ldap?.bind && !ldap?.protection && !tlsVersions) return NO_PROTECTION;
  const rpc = a ? rpcLevelOf(a) : null;
  return {
    authMech: a?.mech ?? null,
    authAccount: a?.account ?? null,
    authWorkstation: a?.workstation ?? null,
    ntlmVersion: a?.ntlmVersion ?? null,
    ntlmMic: a?.ntlmMic ?? null,
    ntlmChannelBindings: a?.ntlmChannelBindings ?? null,
    rpcAuthLevel: rpc ? AUTH_LEVELS[rpc.level - 1] : null,
    rpcAuthType: rpc ? authTypeName(rpc.type) : null,
    smbDialect: smb?.dialect ?? null,
    smbSigning: smb?.signing ?? null,
    smbEncrypted: smb ? (smb.dialect !== null || smb.encrypted ? smb.encrypted : null) : null,
    smb1Offered: smb?.smb1Offered ?? null,
    ldapBind: ldap?.bind ?? null,
    ldapProtection: ldap?.protection ?? null,
    cleartextCredentials: a && a.mech !== null ? a.cleartext : null,
    tlsClientVersions: tlsVersions,
    kerberosSpn: a?.spn ?? null,
    names: a?.names ?? [],
  };
}
