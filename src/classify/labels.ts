/** What classification adds to a flow: its service and how it was decided, and the RPC interface if any. */
export interface FlowLabels {
  service: string | null;
  via: 'port' | 'epm' | 'bind' | 'payload' | null;
  rpcInterface: string | null;
  rpcUuid: string | null;
  rpcNote: string | null;
}

export const NO_LABELS: FlowLabels = { service: null, via: null, rpcInterface: null, rpcUuid: null, rpcNote: null };
