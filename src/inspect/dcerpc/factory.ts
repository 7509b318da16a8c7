// Decides which TCP flows get an RPC inspector: by port (the mapper, ncacn_http
// ports — which ports comes from rules/services.yaml's `inspect` field) or by the
// first payload bytes looking like a DCE/RPC PDU or an ncacn_http greeting.
// Everything else pays one array read at flow creation and one byte test at its
// first payload.

import type { FlowInspector, InspectorFactory } from '../../flow/inspector';
import { ByteBudget } from './budget';
import { NO_SETUP_CALLS, RpcConnection, type SetupCalls, RpcMode } from './connection';
import { looksLikeCoPdu, matchesGreeting, NCACN_HTTP_GREETING } from './pdu';
import { SmbPipes } from './smb';
import { guidBytes } from './dcom';


/** The default bound on reassembly memory across all RPC flows of a run. */
export const DEFAULT_RPC_BUDGET = 64 * 1024 * 1024;

const SMB_PIPES = 4;

/**
 * The inspector code of a flow's ports (inspectorPorts()): B's port first — side A sent
 * the first packet, the client when the handshake is in the capture, whose ephemeral
 * port may happen to be a service's (6001-6004 are RPC over HTTP's).
 */
export function portCode(ports: Uint8Array, portA: number, portB: number): number {
  return ports[portB] || ports[portA];
}

export class RpcInspectorFactory implements InspectorFactory {
  readonly budget: ByteBudget;
  attachedByPort = 0;
  attachedByPayload = 0;

  /**
   * @param ports per TCP port, 0 = do not attach by port, else the RpcMode to
   *   attach with: 1 mapper, 2 ncacn_http, 3 both; 4 = SMB named pipes — the
   *   codes rules/services.ts's inspectorPorts() produces (INSPECTORS order).
   */
  private readonly dcomIids: { uuid: string; bytes: Buffer }[];

  /** @param dcomIids interfaces an activation answer may name (see RpcConnection) */
  constructor(
    private readonly ports: Uint8Array,
    budgetBytes = DEFAULT_RPC_BUDGET,
    dcomIids: string[] = [],
    private readonly setupCalls: SetupCalls = NO_SETUP_CALLS,
  ) {
    this.budget = new ByteBudget(budgetBytes);
    this.dcomIids = dcomIids.map((uuid) => ({ uuid, bytes: guidBytes(uuid) }));
  }

  byPorts(portA: number, portB: number): FlowInspector | null {
    return this.byCode(portCode(this.ports, portA, portB));
  }

  /** The inspector for an inspectorPorts() code already chosen (src/inspect/index.ts chooses among every protocol's). */
  byCode(m: number): FlowInspector | null {
    if (m === 0 || m > SMB_PIPES) return null; // none, or another protocol's inspector (src/inspect/index.ts)
    this.attachedByPort++;
    return m === SMB_PIPES ? new SmbPipes(this.budget, this.setupCalls) : new RpcConnection(m as RpcMode, this.budget, this.dcomIids, this.setupCalls);
  }

  byPayload(_dir: number, buf: Buffer, off: number, len: number): FlowInspector | null {
    if (looksLikeCoPdu(buf, off, len)) {
      this.attachedByPayload++;
      return new RpcConnection(RpcMode.Plain, this.budget, this.dcomIids, this.setupCalls);
    }
    if (len >= NCACN_HTTP_GREETING.length && matchesGreeting(buf, off, len)) {
      this.attachedByPayload++;
      return new RpcConnection(RpcMode.Http, this.budget);
    }
    return null;
  }
}
