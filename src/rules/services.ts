import type { Entry, RulesFile } from './source';

export type Transport = 'tcp' | 'udp';

export interface Service {
  id: string;
  name: string;
  transports: Transport[];
  /** [low, high] inclusive port ranges. */
  ranges: [number, number][];
  byPort: boolean;
  rpc: boolean;
  /** Which payload inspector flows on this service's TCP ports get (see INSPECTORS). */
  inspect: Inspect | null;
  /** The application protocol by its common lower-case name (ECS network.protocol: dcerpc, ldap, smtp…), or null. */
  protocol: string | null;
  cite: string[];
  note: string;
  source: string;
}

const SERVICE_ID = /^[a-z0-9][a-z0-9.-]*$/;

/**
 * Payload inspectors a service can ask for on its ports (the UDP ones: dcerpc-mapper, kerberos, dns, nbns):
 *   dcerpc-mapper      the endpoint mapper (ncacn_ip_tcp): follow ept_map/ept_lookup
 *   ncacn-http         RPC over HTTP back-end ports: skip the ncacn_http greeting and RTS PDUs
 *   ncacn-http-mapper  both (the ncacn_http mapper on 593)
 *   smb-pipes          SMB2: name the DCE/RPC interfaces bound over named pipes
 *   tls                implicit TLS: server name, version, ALPN, certificate names
 *   starttls-smtp, starttls-imap, starttls-pop3, starttls-ldap
 *                      did the session switch to TLS (then as tls) or talk in clear
 *   http               cleartext HTTP: the first request's path names the Exchange application
 *   kerberos, dns      the names tickets are asked for; the names DNS answers give
 *   nbns               NetBIOS name service (UDP): the names hosts register and answer
 * (src/inspect/index.ts holds the one table of inspectors.)
 */
export const INSPECTORS = ['dcerpc-mapper', 'ncacn-http', 'ncacn-http-mapper', 'smb-pipes', 'tls', 'starttls-smtp', 'starttls-imap', 'starttls-pop3', 'starttls-ldap', 'http', 'kerberos', 'dns', 'nbns'] as const;
export type Inspect = (typeof INSPECTORS)[number];

export function parseService(e: Entry): Service {
  e.checkKeys(['id', 'name', 'transport', 'ports', 'by_port', 'rpc', 'inspect', 'protocol', 'cite', 'note']);
  const id = e.str('id');
  if (!SERVICE_ID.test(id)) e.fail('id', `service id "${id}" must be lower case letters, digits, dots and dashes`);
  const transports = e.strList('transport', e.bool('rpc', false)) as Transport[];
  transports.forEach((t, i) => {
    if (t !== 'tcp' && t !== 'udp') e.file.fail(e.itemNode('transport', i), `unknown transport "${t}" (tcp or udp)`);
  });
  const ranges: [number, number][] = e.strList('ports', e.bool('rpc', false) || !e.bool('by_port', true)).map((p, i) => parsePortRange(e.file, e.itemNode('ports', i), p));
  const protocol = e.str('protocol', true) ?? null;
  if (protocol !== null && !/^[a-z0-9][a-z0-9._-]*$/.test(protocol)) e.fail('protocol', `protocol "${protocol}" must be a lower-case name like dcerpc or ldap`);
  const inspect = e.str('inspect', true) ?? null;
  if (inspect !== null && !(INSPECTORS as readonly string[]).includes(inspect)) e.fail('inspect', `unknown inspector "${inspect}" (one of: ${INSPECTORS.join(', ')})`);
  return {
    id,
    name: e.str('name'),
    transports: transports.length ? transports : ['tcp'],
    ranges,
    byPort: e.bool('by_port', true),
    rpc: e.bool('rpc', false),
    inspect: inspect as Inspect | null,
    protocol,
    cite: e.strList('cite', true),
    note: e.str('note', true) ?? '',
    source: `${e.file.path}:${e.line}`,
  };
}

function parsePortRange(file: RulesFile, node: Parameters<RulesFile['fail']>[0], text: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text.trim());
  if (!m) file.fail(node, `port "${text}" must be a number or a range like 1024-65535`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo < 0 || hi > 65535 || lo > hi) file.fail(node, `port range "${text}" is outside 0-65535 or reversed`);
  return [lo, hi];
}

/**
 * Port → service lookup for port-based classification: one Uint16Array per transport
 * (index + 1 into `services`, 0 = none), so a lookup is one array read. Single
 * ports win over ranges; earlier entries win over later ones.
 */
export class PortIndex {
  private readonly tcp = new Uint16Array(65536);
  private readonly udp = new Uint16Array(65536);

  constructor(readonly services: Service[]) {
    for (const pass of [0, 1]) {
      services.forEach((s, i) => {
        if (!s.byPort) return;
        for (const [lo, hi] of s.ranges) {
          if ((lo === hi) !== (pass === 0)) continue;
          for (const t of s.transports) {
            const table = t === 'tcp' ? this.tcp : this.udp;
            for (let p = lo; p <= hi; p++) if (table[p] === 0) table[p] = i + 1;
          }
        }
      });
    }
  }

  lookup(transport: Transport, port: number): Service | null {
    const v = (transport === 'tcp' ? this.tcp : this.udp)[port];
    return v === 0 ? null : this.services[v - 1];
  }
}

/** Per TCP port, the inspector its services ask for (index into INSPECTORS + 1; 0 = none). */
export function inspectorPorts(services: Service[], transport: Transport = 'tcp'): Uint8Array {
  const table = new Uint8Array(65536);
  for (const s of services) {
    if (!s.inspect || !s.transports.includes(transport)) continue;
    const code = INSPECTORS.indexOf(s.inspect) + 1;
    for (const [lo, hi] of s.ranges) for (let p = lo; p <= hi; p++) if (table[p] === 0) table[p] = code;
  }
  return table;
}
