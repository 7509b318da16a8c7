// What the TLS, STARTTLS and HTTP inspectors learned about a flow, as the columns
// the database keeps: whether and how the session was encrypted, the TLS version,
// the server name the client asked for, the ALPN protocol, the certificate's
// subject and issuer (TLS ≤ 1.2), and the Exchange application of a cleartext
// HTTP request.
import { HttpRequest } from '../inspect/http';
import { StartTls } from '../inspect/starttls';
import { LdapSession } from '../inspect/ldap';
import { TlsHandshake } from '../inspect/tls';
import { httpAppOf } from '../rules/http-apps';
import type { RuleSet } from '../rules/load';
import type { FlowRecord } from '../flow/record';
import type { FlowLabels } from './labels';

export interface PayloadFacts {
  /** implicit (TLS from the first byte), starttls, none (talked in clear), or null when the capture cannot tell. */
  tls: 'implicit' | 'starttls' | 'none' | null;
  tlsVersion: string | null;
  tlsSni: string | null;
  tlsAlpn: string | null;
  tlsSubject: string | null;
  tlsIssuer: string | null;
  tlsNote: string | null;
  httpApp: string | null;
  httpTarget: string | null;
  /** The server's Exchange build as its answer named it (X-OWA-Version). */
  serverVersion: string | null;
}

export const NO_PAYLOAD: PayloadFacts = { tls: null, tlsVersion: null, tlsSni: null, tlsAlpn: null, tlsSubject: null, tlsIssuer: null, tlsNote: null, httpApp: null, httpTarget: null, serverVersion: null };

/** The generic service of TLS on a port no service names (rules/services.yaml). */
const TLS_SERVICE = 'tls';

function fromHandshake(h: TlsHandshake): Omit<PayloadFacts, 'tls' | 'httpApp' | 'httpTarget' | 'serverVersion'> {
  return { tlsVersion: h.facts.version, tlsSni: h.facts.sni, tlsAlpn: h.facts.alpn, tlsSubject: h.facts.subject, tlsIssuer: h.facts.issuer, tlsNote: h.facts.note };
}

/** The payload facts and, for TLS on a port no service names, the label "tls via payload". */
export function payloadFacts(rules: RuleSet, rec: FlowRecord, labels: FlowLabels): { facts: PayloadFacts; labels: FlowLabels } {
  const ins = rec.inspector;
  if (ins instanceof TlsHandshake) {
    ins.finish(); // its buffers go back to the budget (a flow may end mid-handshake)
    if (!ins.clientHello) return { facts: NO_PAYLOAD, labels };
    const facts: PayloadFacts = { ...NO_PAYLOAD, tls: 'implicit', ...fromHandshake(ins) };
    const named = labels.service === null && rules.serviceById.has(TLS_SERVICE) ? { ...labels, service: TLS_SERVICE, via: 'payload' as const } : labels;
    return { facts, labels: named };
  }
  if (ins instanceof StartTls || ins instanceof LdapSession) {
    ins.finish();
    const hs = ins.tls && ins.tls.clientHello ? fromHandshake(ins.tls) : null;
    return { facts: { ...NO_PAYLOAD, tls: ins.use, ...(hs ?? {}) }, labels };
  }
  if (ins instanceof HttpRequest) {
    const path = ins.path;
    if (path === null) return { facts: NO_PAYLOAD, labels };
    if (ins.tunnel?.clientHello) {
      // A CONNECT tunnel carrying TLS: the session is the handshake inside it.
      ins.finish();
      const named = labels.service === null && rules.serviceById.has('http') ? { ...labels, service: 'http', via: 'payload' as const } : labels;
      return { facts: { ...NO_PAYLOAD, tls: 'implicit', ...fromHandshake(ins.tunnel), httpTarget: ins.target }, labels: named };
    }
    const app = httpAppOf(rules.httpApps, path.split('?')[0]);
    const named = labels.service === null && rules.serviceById.has('http') ? { ...labels, service: 'http', via: 'payload' as const } : labels;
    // A plain-HTTP request is a session in clear.
    return { facts: { ...NO_PAYLOAD, tls: 'none', httpApp: app?.id ?? null, httpTarget: ins.target, serverVersion: ins.owaVersion }, labels: named };
  }
  return { facts: NO_PAYLOAD, labels };
}
