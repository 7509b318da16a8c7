// The names a flow's packets give its hosts, each with where it was read (the
// host_names table), and what they say about names that are not the flow's own
// hosts (name_evidence): the service locations and mail exchangers DNS announces,
// the service principals Kerberos tickets are asked for. From the inspectors that
// read those bytes already; nothing here reads packets.
import type { FlowRecord } from '../flow/record';
import { DnsAnswers } from '../inspect/dns';
import { HttpRequest } from '../inspect/http';
import { KdcExchange } from '../inspect/kerberos';
import { NbnsAnswers } from '../inspect/nbns';
import { RpcConnection } from '../inspect/dcerpc/connection';
import { StartTls } from '../inspect/starttls';
import type { PayloadFacts } from './payload';
import type { ProtectionFacts } from './protection';

/** A name given to an address, and its source (dns-a, dns-ptr, kerberos-client, kerberos-spn, tls-sni, tls-cert, smtp-banner, smtp-ehlo, http-host, dcom-binding, netbios-ns, ntlm-*). */
export interface HostName {
  address: string;
  name: string;
  source: string;
}

/** Evidence about a name (not an address): dns-srv (detail: the service label), dns-mx (the mail domain), dns-cname (the canonical name), kerberos-spn (the service class). */
export interface NameEvidence {
  name: string;
  kind: string;
  detail: string;
}

export interface WireNames {
  names: HostName[];
  evidence: NameEvidence[];
}

export const NO_NAMES: WireNames = { names: [], evidence: [] };

const IP_LITERAL = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:.]*)$/i;

/** Names a misconfigured host gives itself that name nothing (an SMTP server's "220 localhost"). */
const PLACEHOLDER = /^(localhost|localhost\.localdomain|localdomain|unknown|\(none\))\.?$/i;

/**
 * The one rule every text from the wire passes before it is kept as a name or a name's
 * evidence (an SRV label, an SPN's service class, a mail domain): not empty, at most 253
 * characters, no white space, no control, format or invisible code point (a NUL in a
 * service principal once split a stored key into too many parts).
 */
const UNFIT = /[\s\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\uFFFD]/u;

function wireText(s: string | null | undefined): s is string {
  return !!s && s.length <= 253 && !UNFIT.test(s);
}

/** A name worth keeping: wire text that is not an address written as a name, nor a placeholder. */
function usable(name: string | null | undefined): name is string {
  return wireText(name) && !IP_LITERAL.test(name) && !PLACEHOLDER.test(name);
}

/** The service label of an SRV owner name: its leading "_" labels and what lies between them ("_ldap._tcp.dc._msdcs"). */
export function srvService(owner: string): string {
  const labels = owner.split('.');
  let last = -1;
  for (let i = 0; i < labels.length; i++) if (labels[i].startsWith('_')) last = i;
  return last < 0 ? owner : labels.slice(0, last + 1).join('.');
}

/** "service/host[:port][/…]@REALM" → [service class, host], or null. */
export function spnParts(spn: string): [string, string] | null {
  const m = /^([^/@]+)\/([^/@:]+)/.exec(spn);
  return m && wireText(m[1]) && usable(m[2]) && m[2].includes('.') ? [m[1].toLowerCase(), m[2].toLowerCase()] : null;
}

export function wireNamesOf(rec: FlowRecord, payload: PayloadFacts, prot: ProtectionFacts): WireNames {
  const ins = rec.inspector;
  const names: HostName[] = [];
  const evidence: NameEvidence[] = [];
  const add = (address: string, name: string | null | undefined, source: string) => {
    if (usable(name)) names.push({ address, name: name.toLowerCase().replace(/\.$/, ''), source });
  };
  const note = (name: string | null | undefined, kind: string, detail: string | null | undefined) => {
    if (usable(name) && wireText(detail)) evidence.push({ name, kind, detail });
  };
  if (payload.tlsSni) add(rec.server, payload.tlsSni, 'tls-sni');
  const cn = payload.tlsSubject ? /(?:^|,)CN=([^,]+)/.exec(payload.tlsSubject) : null;
  if (cn && !cn[1].includes('*')) add(rec.server, cn[1], 'tls-cert');
  for (const n of prot.names) {
    // NTLM's CHALLENGE names the server: its computer names are host names, its domain names are not.
    if (n.source === 'ntlm-dns-computer' || n.source === 'ntlm-netbios-computer') add(n.side === 'server' ? rec.server : rec.client, n.name, n.source);
  }
  if (prot.authWorkstation) add(rec.client, prot.authWorkstation, 'ntlm-workstation');
  if (prot.kerberosSpn) {
    const p = spnParts(prot.kerberosSpn);
    if (p) {
      note(p[1], 'kerberos-spn', p[0]);
      // A ticket presented to a server is for that server (an AP-REQ, not a request to the KDC).
      if (!(ins instanceof KdcExchange)) add(rec.server, p[1], 'kerberos-spn');
    }
  }
  if (ins instanceof KdcExchange) {
    for (const spn of ins.requested) {
      const p = spnParts(spn);
      if (p) note(p[1], 'kerberos-spn', p[0]);
    }
    // A computer account (HOST$@REALM) asking for tickets is the client itself.
    const m = prot.authAccount ? /^([A-Za-z0-9-]{1,15})\$@([A-Za-z0-9.-]+)$/.exec(prot.authAccount) : null;
    if (m) add(rec.client, `${m[1]}.${m[2]}`, 'kerberos-client');
  }
  if (ins instanceof StartTls) {
    if (ins.banner) add(rec.server, ins.banner, 'smtp-banner');
    if (ins.ehlo) add(rec.client, ins.ehlo, 'smtp-ehlo');
  }
  if (ins instanceof HttpRequest && ins.host) add(rec.server, ins.host, 'http-host');
  if (ins instanceof DnsAnswers) {
    for (const r of ins.records) {
      if (r.type === 'a') add(r.value, r.name, 'dns-a');
      else if (r.type === 'ptr') add(r.name, r.value, 'dns-ptr');
      else if (r.type === 'srv') note(r.value, 'dns-srv', srvService(r.name));
      else if (r.type === 'mx') note(r.value, 'dns-mx', r.name);
      else if (r.type === 'cname' && usable(r.value)) note(r.name, 'dns-cname', r.value);
    }
  }
  // A DCOM activation or OXID answer's string bindings ("host[port]", [MS-DCOM] 2.2.19.4) name the
  // object exporter: the machine that answered.
  if (ins instanceof RpcConnection) for (const a of ins.answers) if (a.source === 'dcom' && a.tower.name) add(rec.server, a.tower.name, 'dcom-binding');
  // NetBIOS: a name for an address, or (a node status answer) the responder's own.
  if (ins instanceof NbnsAnswers) for (const n of ins.names) add(n.address ?? rec.server, n.name, 'netbios-ns');
  return names.length === 0 && evidence.length === 0 ? NO_NAMES : { names, evidence };
}
