// How one flow authenticated and how it is protected, as its inspectors read it
// from the first packets: one object per flow, owned by the flow's inspector (so
// it lives with the flow in the flow table, whichever thread holds it), filled by
// the small readers of this folder (NTLMSSP, SPNEGO/Kerberos, LDAP binds) and by
// the protocol inspectors that carry them (DCE/RPC, SMB, HTTP, the mail protocols).
// Never a password, a hash, a challenge or a response: only names and lengths.

export type AuthMech = 'ntlm' | 'kerberos' | 'basic' | 'digest' | 'simple' | 'plain' | 'login' | 'cram-md5' | 'anonymous' | 'external' | 'schannel' | 'netlogon';
export type NtlmVersion = 'lm' | 'v1' | 'v2' | 'anonymous';
export type SmbSigning = 'required' | 'enabled' | 'off';
export type LdapProtection = 'tls' | 'sasl-sign' | 'sasl-seal' | 'none' | 'unbound';

/** A name a host gave itself or was given on the wire, with where it was read (for the names of hosts). */
export interface WireName {
  /** Whose name it is: the flow's client or its server. */
  side: 'client' | 'server';
  source: string;
  name: string;
}

/** NTLM versions from weakest to strongest; a flow keeps the weakest it showed. */
const NTLM_RANK: Record<NtlmVersion, number> = { lm: 0, v1: 1, anonymous: 2, v2: 3 };
/** Longest name kept (a hostile capture may send a 64 KiB "user name"). */
const MAX_NAME = 256;
const MAX_NAMES = 8;

export class AuthFacts {
  /** Every mechanism the flow used, in the order seen (SPNEGO/Kerberos, then NTLM: both). */
  readonly mechs: AuthMech[] = [];
  /** DOMAIN\user (NTLM), user@REALM (Kerberos AS-REQ), the user or DN of a cleartext login. */
  account: string | null = null;
  /** The workstation an NTLM AUTHENTICATE names. */
  workstation: string | null = null;
  ntlmVersion: NtlmVersion | null = null;
  ntlmMic: boolean | null = null;
  ntlmChannelBindings: boolean | null = null;
  /** NTLM session security negotiated in the AUTHENTICATE: sign, seal. */
  ntlmSign = false;
  ntlmSeal = false;
  /** The lowest DCE/RPC authentication level of the connection's binds (1 none … 6 privacy), 0 = no bind seen. */
  rpcLevel = 0;
  /** The auth_type of the bind that set rpcLevel (0 when it carried no trailer). */
  rpcType = -1;
  /**
   * The lowest level the connection's requests travelled at (0 = no request seen): what the
   * calls really carried. An alter_context without a trailer adds a context under the
   * association's security and says nothing of the level ([MS-RPCE] 3.3.1.5.3).
   */
  requestLevel = 0;
  requestType = -1;
  /** Requests without a trailer were seen (level none, or connect: the binds tell). */
  bareRequests = false;
  /** Requests that set up protection and travel without RPC authentication by design (Netlogon's session-key negotiation). */
  setupRequests = 0;
  /** A password crossed without encryption. */
  cleartext = false;
  /** The Kerberos service principal a ticket on this flow was for (AP-REQ), or a KDC request asked for. */
  spn: string | null = null;
  readonly names: WireName[] = [];

  /** The mechanisms as the auth_mech column holds them: "kerberos", "kerberos,ntlm", or null. */
  get mech(): string | null {
    return this.mechs.length ? this.mechs.join(',') : null;
  }

  /** A mechanism seen on the flow (SPNEGO unwrapped to what it carries); anonymous gives way to a real one. */
  setMech(m: AuthMech): void {
    if (this.mechs.includes(m)) return;
    if (this.mechs.length === 1 && this.mechs[0] === 'anonymous') this.mechs.length = 0;
    else if (m === 'anonymous' && this.mechs.length > 0) return;
    if (this.mechs.length < 4) this.mechs.push(m);
  }

  setAccount(a: string): void {
    const clean = clip(a);
    if (clean && this.account === null) this.account = clean;
  }

  ntlm(version: NtlmVersion): void {
    if (this.ntlmVersion === null || NTLM_RANK[version] < NTLM_RANK[this.ntlmVersion]) this.ntlmVersion = version;
  }

  /** One bind or alter_context: its trailer's type and level (level 1 and type 0 for a bind without one). */
  rpcBind(type: number, level: number): void {
    if (level < 1 || level > 6) level = 1;
    if (this.rpcLevel === 0 || level < this.rpcLevel) {
      this.rpcLevel = level;
      this.rpcType = type;
    }
  }

  /** NTLM that carried no credentials (a NULL session): the flow's NTLM is anonymous. */
  anonymousNtlm(): void {
    const at = this.mechs.indexOf('ntlm');
    if (at >= 0) this.mechs[at] = 'anonymous';
    else if (this.mechs.length === 0) this.mechs.push('anonymous');
  }

  /** One request: the level and type of its trailer (level 1, type 0 for a request without one). */
  rpcRequest(type: number, level: number): void {
    if (level < 1 || level > 6) level = 1;
    if (this.requestLevel === 0 || level < this.requestLevel) {
      this.requestLevel = level;
      this.requestType = type;
    }
  }

  name(side: 'client' | 'server', source: string, name: string): void {
    const clean = clip(name);
    if (!clean || this.names.length >= MAX_NAMES) return;
    if (!this.names.some((n) => n.side === side && n.source === source && n.name === clean)) this.names.push({ side, source, name: clean });
  }

  /** Takes what another reader of the same flow learned (an RPC connection inside SMB pipes, a TLS handshake inside STARTTLS). */
  absorb(o: AuthFacts): void {
    for (const m of o.mechs) this.setMech(m);
    if (o.account) this.setAccount(o.account);
    if (o.workstation && !this.workstation) this.workstation = o.workstation;
    if (o.ntlmVersion) this.ntlm(o.ntlmVersion);
    if (o.ntlmMic !== null) this.ntlmMic = this.ntlmMic === null ? o.ntlmMic : this.ntlmMic && o.ntlmMic;
    if (o.ntlmChannelBindings !== null) this.ntlmChannelBindings = this.ntlmChannelBindings === null ? o.ntlmChannelBindings : this.ntlmChannelBindings && o.ntlmChannelBindings;
    this.ntlmSign ||= o.ntlmSign;
    this.ntlmSeal ||= o.ntlmSeal;
    if (o.rpcLevel > 0) this.rpcBind(o.rpcType, o.rpcLevel);
    if (o.requestLevel > 0) this.rpcRequest(o.requestType, o.requestLevel);
    this.bareRequests ||= o.bareRequests;
    this.setupRequests += o.setupRequests;
    this.cleartext ||= o.cleartext;
    if (o.spn && !this.spn) this.spn = o.spn;
    for (const n of o.names) this.name(n.side, n.source, n.name);
  }
}

/** A name as kept: control characters dropped, at most MAX_NAME characters; escaping is each output's. */
export function clip(s: string): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return t.length > MAX_NAME ? t.slice(0, MAX_NAME) : t;
}

/**
 * What an inspector that may read a flow's authentication extends: its facts are made at
 * the first thing read — most flows show none, and a flow table holds many thousands.
 */
export abstract class ReadsAuth {
  private authFacts: AuthFacts | null = null;

  /** The flow's facts, made when first written to. */
  get auth(): AuthFacts {
    return (this.authFacts ??= new AuthFacts());
  }

  /** The facts if anything was read, else null (without making them). */
  get authSeen(): AuthFacts | null {
    return this.authFacts;
  }
}
