/** What classification adds to a flow: its service and how it was decided, and the RPC interface if any. */
export interface FlowLabels {
  service: string | null;
  via: 'port' | 'epm' | 'bind' | 'payload' | null;
  rpcInterface: string | null;
  rpcUuid: string | null;
  rpcNote: string | null;
  /**
   * Every interface the connection's binds and alter_contexts offered and the server
   * accepted (or whose answer is not in the capture), in bind order: uuids, and names
   * (the rules' name, else the uuid). Absent for flows named otherwise.
   */
  rpcUuids?: string[];
  rpcInterfaces?: string[];
}

export const NO_LABELS: FlowLabels = { service: null, via: null, rpcInterface: null, rpcUuid: null, rpcNote: null };
