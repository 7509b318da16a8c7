import type { FlowRecord } from '../flow/record';
import type { RuleSet } from '../rules/load';
import { NO_LABELS, type FlowLabels } from './labels';

/** The service a flow's server port is known for, from rules/services.yaml. */
export function labelByPort(rules: RuleSet, f: FlowRecord): FlowLabels {
  const s = rules.ports.lookup(f.transport, f.serverPort);
  if (!s) return NO_LABELS;
  return { service: s.id, via: 'port', rpcInterface: null, rpcUuid: null, rpcNote: null };
}

/** For the flow table's direction rule: is this a port some service is known on? */
export function servicePortTest(rules: RuleSet): (transport: 'tcp' | 'udp', port: number) => boolean {
  return (t, p) => rules.ports.lookup(t, p) !== null;
}
