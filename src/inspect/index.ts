// The payload inspectors, in one table. Their buffers come from one memory budget
// for the run (the DCE/RPC factory's), whatever the protocol. A TCP flow gets at most one inspector:
// by its port (the `inspect` field of rules/services.yaml names which, and the
// side on the service's port is the server), else by its first payload bytes
// (DCE/RPC, then a TLS ClientHello, then an HTTP request line), else none. The
// rule for when a flow's payload stops being read is the inspector interface's
// (src/flow/inspector.ts): an inspector returns false as soon as nothing more on
// the flow can change its labels or the endpoint registry.
//
//   inspect value        inspector                 reads until
//   dcerpc-mapper …      dcerpc/ (RpcConnection)   interfaces bound, mapper answers read
//   smb-pipes            dcerpc/ (SmbPipes)        pipes opened and bound
//   tls                  tls.ts (TlsHandshake)     ServerHello (1.3) / Certificate (≤ 1.2)
//   starttls-smtp/imap/  starttls.ts (StartTls)    the switch and its handshake, or the
//     pop3                                          login (or first command) sent in clear
//   starttls-ldap        ldap.ts (LdapSession)     StartTLS and its handshake, or the bind
//                                                  and whether its SASL layer signs or seals
//   kerberos (TCP, UDP)  kerberos.ts (KdcExchange) a request and its reply
//   dns (TCP, UDP)       dns.ts (DnsAnswers)       16 messages or 32 records
//   nbns (UDP)           nbns.ts (NbnsAnswers)     16 datagrams or 16 names
//   http                 http.ts (HttpRequest)     the first request line and answer, and
//                                                  the Authorization exchange after a 401
//   dcerpc-mapper on UDP dcerpc/cl.ts (ClMapper)   the end (ept_map over ncadg_ip_udp)
import type { FlowInspector, InspectorFactory } from '../flow/inspector';
import { INSPECTORS, type Inspect } from '../rules/services';
import { portCode, RpcInspectorFactory } from './dcerpc/factory';
import type { SetupCalls } from './dcerpc/connection';
import { ClMapper } from './dcerpc/cl';
import { IREMUNKNOWN2_UUID, IREMUNKNOWN_UUID, OXID_RESOLVER_UUID, REMOTE_ACTIVATION_UUID, SYSTEM_ACTIVATOR_UUID } from './dcerpc/dcom';
import { HttpRequest, looksLikeHttpRequest } from './http';
import { LineProtocol, StartTls } from './starttls';
import { LdapSession } from './ldap';
import { KdcExchange } from './kerberos';
import { DnsAnswers } from './dns';
import { NbnsAnswers } from './nbns';
import { looksLikeClientHello, TlsHandshake } from './tls';

const RPC_KINDS: Inspect[] = ['dcerpc-mapper', 'ncacn-http', 'ncacn-http-mapper', 'smb-pipes'];
const STARTTLS: Partial<Record<Inspect, LineProtocol>> = {
  'starttls-smtp': LineProtocol.Smtp,
  'starttls-imap': LineProtocol.Imap,
  'starttls-pop3': LineProtocol.Pop3,
};

export class Inspectors implements InspectorFactory {
  readonly rpc: RpcInspectorFactory;
  attachedTls = 0;
  attachedHttp = 0;

  private readonly udpPorts: Uint8Array | null;

  /**
   * @param ports per TCP port, the index + 1 into INSPECTORS its service asks for (0 = none), as rules/services.ts's inspectorPorts() makes it
   * @param o.budget bytes all inspectors' buffers may hold together (default 64 MiB)
   * @param o.dcomIids the interfaces a DCOM activation answer may name (dcomActivatable() of the rules)
   * @param o.udpPorts as `ports`, for UDP (inspectorPorts(services, 'udp'))
   * @param o.setupCalls per interface, the calls that travel without RPC authentication by design (setupCalls() of the rules)
   */
  constructor(
    private readonly ports: Uint8Array,
    o: { budget?: number; dcomIids?: string[]; udpPorts?: Uint8Array; setupCalls?: SetupCalls } = {},
  ) {
    this.rpc = new RpcInspectorFactory(ports, o.budget, o.dcomIids ?? [], o.setupCalls);
    this.udpPorts = o.udpPorts ?? null;
  }

  /** UDP: the endpoint mapper (connectionless DCE/RPC on 135), Kerberos, DNS and the NetBIOS name service. */
  byUdpPorts(portA: number, portB: number): FlowInspector | null {
    if (!this.udpPorts) return null;
    const code = this.udpPorts[portA] || this.udpPorts[portB];
    if (code === 0) return null;
    const kind = INSPECTORS[code - 1];
    if (kind === 'dcerpc-mapper') return new ClMapper();
    if (kind === 'kerberos') return new KdcExchange(false);
    if (kind === 'dns') return new DnsAnswers(false, this.rpc.budget);
    if (kind === 'nbns') return new NbnsAnswers(this.rpc.budget);
    return null;
  }

  wantsPorts(portA: number, portB: number): boolean {
    return portCode(this.ports, portA, portB) !== 0;
  }

  byPorts(portA: number, portB: number): FlowInspector | null {
    const code = portCode(this.ports, portA, portB);
    if (code === 0) return null;
    const kind = INSPECTORS[code - 1];
    if (RPC_KINDS.includes(kind)) return this.rpc.byCode(code);
    // Side B is the server unless only A's port is the service's.
    const serverDir = this.ports[portB] ? 1 : 0;
    if (kind === 'starttls-ldap') {
      this.attachedTls++;
      return new LdapSession(serverDir, this.rpc.budget);
    }
    if (kind === 'kerberos') return new KdcExchange(true, this.rpc.budget);
    if (kind === 'dns') return new DnsAnswers(true, this.rpc.budget);
    const line = STARTTLS[kind];
    if (line !== undefined) {
      this.attachedTls++;
      return new StartTls(line, serverDir, this.rpc.budget);
    }
    if (kind === 'tls') {
      this.attachedTls++;
      return new TlsHandshake(this.rpc.budget);
    }
    if (kind === 'http') {
      this.attachedHttp++;
      return new HttpRequest(serverDir, this.rpc.budget);
    }
    return null;
  }

  byPayload(dir: number, buf: Buffer, off: number, len: number): FlowInspector | null {
    const rpc = this.rpc.byPayload(dir, buf, off, len);
    if (rpc) return rpc;
    if (looksLikeClientHello(buf, off, len)) {
      this.attachedTls++;
      return new TlsHandshake(this.rpc.budget);
    }
    if (looksLikeHttpRequest(buf, off, len)) {
      this.attachedHttp++;
      return new HttpRequest(-1, this.rpc.budget);
    }
    return null;
  }
}

/** Per interface UUID, the opnums the rules say travel without RPC authentication by design (Netlogon's secure-channel setup). */
export function setupCalls(interfaces: Iterable<{ uuid: string; setup_calls: number[] }>): SetupCalls {
  const m = new Map<string, Set<number>>();
  for (const i of interfaces) if (i.setup_calls.length) m.set(i.uuid, new Set(i.setup_calls));
  return m;
}

/**
 * The interfaces a DCOM activation may hand out, from the rules: those of the dcom
 * and wmi services, but the activation and resolver interfaces themselves.
 */
export function dcomActivatable(interfaces: Iterable<{ uuid: string; service: string }>): string[] {
  const machinery = new Set([SYSTEM_ACTIVATOR_UUID, REMOTE_ACTIVATION_UUID, OXID_RESOLVER_UUID, IREMUNKNOWN2_UUID, IREMUNKNOWN_UUID]);
  return [...interfaces].filter((i) => (i.service === 'dcom' || i.service === 'wmi') && !machinery.has(i.uuid)).map((i) => i.uuid);
}
