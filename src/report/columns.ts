// Every column of a flow as `flows`, `export --format csv` and the JSON outputs write it: what it
// means and where exflow reads it from. `exflow columns` prints it; docs/columns.md is its
// Markdown (npm run generated), and a test keeps both equal and checks that every column
// `flows` writes has an entry here and every entry is a column flow_view or flows carries.
import { FLOW_COLUMNS } from './flows';
import type { Row } from './format';

export interface ColumnDoc {
  column: string;
  meaning: string;
  /** Where the value comes from: the packets (which field), the rules, the audit, or the database. */
  from: string;
}

const DOCS: [string, string, string][] = [
  ['capture', 'the capture file the flow began in (its path as given to analyze; `-` standard input, `interface:NAME` an interface)', 'captures.path, through flows.capture_id'],
  ['transport', '`tcp` or `udp`', 'the IP header\'s protocol'],
  ['client', 'the address that opened the connection', 'IP source of the first SYN without ACK; without a handshake see direction_by'],
  ['client_port', 'the client\'s port', 'TCP/UDP header'],
  ['server', 'the address that was connected to', 'IP destination of the first SYN without ACK'],
  ['server_port', 'the port connected to', 'TCP/UDP header'],
  ['first_seen', 'the first packet\'s time, ISO 8601 UTC to the microsecond (the database keeps nanoseconds)', 'the capture\'s record timestamp (pcap, or pcapng with its interface\'s resolution)'],
  ['last_seen', 'the last packet\'s time', 'as first_seen'],
  ['duration', 'seconds from the first packet to the last, to the microsecond (a number)', 'last_seen − first_seen'],
  ['packets', 'packets both ways', 'packets_c2s + packets_s2c'],
  ['bytes', 'bytes both ways, as captured frames on the wire', 'bytes_c2s + bytes_s2c'],
  ['client_name', 'the client\'s name', 'the inventory, else a name the wire gave it (DNS answers, Kerberos and NTLM names, TLS certificates; exflow host ADDR lists each with its source)'],
  ['server_name', 'the server\'s name', 'as client_name'],
  ['service', 'what the flow carried, by exflow\'s service ids (exflow rules show services); empty when nothing named it', 'via says how: the port table, the endpoint mapper, the DCE/RPC bind or the payload'],
  ['via', 'how the service was found: `port`, `epm` (the endpoint mapper handed out this port), `bind` (the connection bound an RPC interface), `payload` (the bytes said what they were)', 'rules/services.yaml, the mapper\'s answers, the bind PDU, the payload inspectors'],
  ['rpc_interface', 'the DCE/RPC interface the flow bound first, by name (rules/rpc-interfaces.yaml)', 'the bind PDU\'s abstract syntax UUID, or the mapper\'s answer for the port'],
  ['rpc_uuid', 'that interface\'s UUID', 'the bind PDU or the mapper tower'],
  ['rpc_interfaces', 'every interface the connection bound, in bind order (a list)', 'bind and alter_context PDUs'],
  ['rpc_uuids', 'their UUIDs (a list)', 'as rpc_interfaces'],
  ['packets_c2s', 'packets from client to server', 'counted per packet'],
  ['packets_s2c', 'packets from server to client', 'counted per packet'],
  ['bytes_c2s', 'frame bytes from client to server (the wire length, not what the snaplen kept)', 'the record\'s original length'],
  ['bytes_s2c', 'frame bytes from server to client', 'the record\'s original length'],
  ['tcp_state', '`syn-only`, `rejected` (answered by RST), `established`, `closed` (FIN both ways), `reset`, `midstream` (no handshake in the capture); empty for UDP', 'the TCP flags seen'],
  ['direction_by', 'why client is the client: `syn`, `syn-ack`, `payload` (the protocol said who asked), `service-port` (one port is a service\'s), `lower-port`, `first-packet`', 'the handshake, the payload inspectors, the rules\' ports'],
  ['rpc_note', 'what the DCE/RPC reader saw or could not see (a bind cut by the snaplen, bytes missing, a budget reached)', 'the DCE/RPC inspector'],
  ['missing_c2s', 'payload bytes client to server the snaplen cut off', 'original length − captured length'],
  ['missing_s2c', 'payload bytes server to client the snaplen cut off', 'as missing_c2s'],
  ['client_role', 'the client\'s role as the verdict names it: the role the matching matrix rule names, else every role the host has (a+b)', 'the inventory or role inference (exflow hosts), then the audit'],
  ['server_role', 'the server\'s role, as client_role', 'as client_role'],
  ['verdict', '`expected` (a matrix rule allows the service between the two roles), `unexpected` (both roles known, no rule allows it), `unknown` (a role missing, or an RPC interface unread)', 'the audit: rules/matrix-*.yaml'],
  ['rule', 'the id of the matrix rule that allows the flow', 'rules/matrix-*.yaml'],
  ['reason', 'why, in English: the rule that allows it, or what the matrix allows instead (long lists counted; reason_detail in the reports\' JSON has them whole)', 'the audit'],
  ['cite', 'where the rule comes from, in its source\'s own words and language (seed and section, or Microsoft\'s reference)', 'the rule\'s cite and text'],
  ['tls', '`implicit` (TLS from the first byte), `starttls` (switched after a STARTTLS), `none` (commands in clear); empty where the capture cannot tell', 'the first payload bytes and the STARTTLS exchange'],
  ['tls_version', 'the TLS version the server chose', 'the ServerHello (supported_versions for TLS 1.3)'],
  ['tls_sni', 'the server name the client asked for', 'the ClientHello\'s server_name extension'],
  ['tls_alpn', 'the application protocols the client offered', 'the ClientHello\'s ALPN extension'],
  ['tls_subject', 'the server certificate\'s subject', 'the Certificate message (TLS 1.2 and older; encrypted in 1.3)'],
  ['tls_issuer', 'the server certificate\'s issuer', 'as tls_subject'],
  ['tls_note', 'what the TLS reader could not read (an oversize or SSLv2-format hello)', 'the TLS inspector'],
  ['http_app', 'the Exchange web application a clear HTTP request went to (owa, ecp, ews, activesync, autodiscover, mapi-http, rpc-http, oab, powershell)', 'the request line\'s path, by rules/http-apps.yaml'],
  ['http_target', 'that request\'s path', 'the HTTP request line'],
  ['encryption', 'for an expected flow seen in clear whose rule says the service is encrypted between the roles: the finding, in English', 'the matrix rule\'s encrypted list and tls = none'],
  ['encryption_cite', 'where the rule says so, in its source\'s words', 'the rule\'s encrypted_cite'],
  ['server_version', 'the Exchange build a server\'s answer announced (15.1.2507.6: Exchange 2016), which dates the host when the inventory does not', 'the X-OWA-Version header of a cleartext HTTP answer'],
  ['auth_mech', 'every authentication mechanism the flow used, in order (`kerberos,ntlm`, `simple`, `plain`, …)', 'SPNEGO, DCE/RPC auth trailers, SMB SESSION_SETUP, HTTP Authorization, LDAP binds, SMTP/IMAP/POP3 AUTH, the KDC exchange (docs/protection.md)'],
  ['auth_account', 'the account it authenticated as (`DOMAIN\\user`, `user@REALM`, an LDAP DN); a keyed hash with --redact-accounts', 'the NTLM AUTHENTICATE, the Kerberos AS-REQ or the cname of a KDC reply, an LDAP simple bind, a cleartext login'],
  ['auth_workstation', 'the NTLM client\'s workstation name', 'the NTLM AUTHENTICATE'],
  ['ntlm_version', '`lm`, `v1`, `v2`, `anonymous`: the weakest on the flow', 'the NT and LM responses\' lengths ([MS-NLMP] 2.2.1.3)'],
  ['ntlm_mic', 'whether the NTLMv2 AUTHENTICATE carried a MIC', 'MsvAvFlags in the NTLMv2 response\'s AV pairs'],
  ['ntlm_channel_bindings', 'whether it carried channel bindings (Extended Protection)', 'MsvAvChannelBindings in the AV pairs'],
  ['rpc_auth_level', 'the lowest DCE/RPC authentication level the connection\'s requests travelled at (`none` … `privacy`)', 'the security trailers ([MS-RPCE] 2.2.2.11)'],
  ['rpc_auth_type', 'the authentication service of the bind that set the level (`spnego`, `ntlmssp`, `kerberos`, `netlogon`, …)', 'the bind\'s security trailer'],
  ['smb_dialect', 'the SMB dialect the server chose (`1`, `2.0.2` … `3.1.1`)', 'the NEGOTIATE response'],
  ['smb_signing', 'the server\'s signing mode: `required`, `enabled`, `off`', 'the NEGOTIATE response\'s SecurityMode'],
  ['smb_encrypted', 'whether an encrypted SMB3 message was seen', 'a TRANSFORM_HEADER'],
  ['smb1_offered', 'whether the client offered SMB1 (NT LM 0.12)', 'the client\'s multi-protocol NEGOTIATE'],
  ['ldap_bind', 'how LDAP bound: `simple`, `sasl-<mechanism>`, `sicily`', 'the BindRequest ([RFC 4511] 4.2)'],
  ['ldap_protection', 'what protected the LDAP messages after the bind: `tls`, `sasl-sign`, `sasl-seal`, `none`; `unbound` when the server refused every SASL or Sicily bind', 'StartTLS, or the message after a bind the server accepted (a GSS wrap token\'s flags); the BindResponse\'s resultCode'],
  ['cleartext_credentials', 'whether a password crossed without encryption', 'HTTP Basic, SMTP AUTH PLAIN/LOGIN, IMAP LOGIN, POP3 PASS, SASL PLAIN, an LDAP simple bind — each outside TLS'],
  ['tls_client_versions', 'the TLS versions the ClientHello offered', 'supported_versions, else the hello\'s version'],
  ['kerberos_spn', 'the service principal of the flow\'s ticket or KDC request', 'the AP-REQ or TGS-REQ (in clear)'],
  ['protection', 'the protection findings the flow raised (a list of ids: exflow rules show protection)', 'rules/protection.yaml over the columns above'],
];

/** Every flow column with what it means and where it is read from, in FLOW_COLUMNS' order. */
export function columnDocs(): ColumnDoc[] {
  const by = new Map(DOCS.map(([column, meaning, from]) => [column, { column, meaning, from }]));
  return FLOW_COLUMNS.map((c) => by.get(c) ?? { column: c, meaning: '', from: '' });
}

/** The columns documented here that `flows` does not write (a test keeps this empty). */
export const documentedOnly = (): string[] => DOCS.map(([c]) => c).filter((c) => !(FLOW_COLUMNS as readonly string[]).includes(c));

export const COLUMN_DOC_COLUMNS = ['column', 'meaning', 'from'];

export const columnRows = (): Row[] => columnDocs() as unknown as Row[];
