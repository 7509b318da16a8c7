#!/usr/bin/env node
// What the payload inspectors cost per segment they are handed, for npm run bench (issue 33: ≤ 1 µs
// an inspected segment on the organisation mix). A capture is read, decoded and put through the flow
// table with the run's inspectors, as analyze does it, but nothing is classified or stored; each
// inspector the table attaches is wrapped so that its segment() calls, and the factory's call that
// made it, are timed (process.hrtime, the timer's own cost measured and taken off). Run by the bench
// as a child process, pinned to one core; prints per inspector kind its segments, bytes and
// nanoseconds as JSON.
import { readCapture } from '../capture/reader';
import { runChild } from './child';
import { PacketIngest } from '../flow/ingest';
import { FlowTable } from '../flow/table';
import type { FlowInspector, InspectorFactory } from '../flow/inspector';
import { DEFAULT_RPC_BUDGET } from '../inspect/dcerpc/factory';
import { dcomActivatable, Inspectors, setupCalls } from '../inspect';
import { loadRules } from '../rules/load';
import { inspectorPorts } from '../rules/services';

export interface InspectorCost {
  kind: string;
  segments: number;
  bytes: number;
  /** Nanoseconds in segment() and in making the inspector, the timer's cost taken off. */
  ns: number;
}

/** Counts by the kind of inspector (its class). */
class Costs {
  private readonly byKind = new Map<string, InspectorCost>();
  add(kind: string, segments: number, bytes: number, ns: number): void {
    const c = this.byKind.get(kind) ?? { kind, segments: 0, bytes: 0, ns: 0 };
    c.segments += segments;
    c.bytes += bytes;
    c.ns += ns;
    this.byKind.set(kind, c);
  }
  all(): InspectorCost[] {
    return [...this.byKind.values()].sort((a, b) => b.ns - a.ns);
  }
}

/** The timer's own cost: two process.hrtime.bigint() calls, as each timed call makes. */
function timerNs(): number {
  let total = 0n;
  const n = 200_000;
  for (let i = 0; i < n; i++) {
    const a = process.hrtime.bigint();
    total += process.hrtime.bigint() - a;
  }
  return Number(total) / n;
}

/** An inspector whose segment() calls are timed into `costs` under its own class's name. */
function timed(inner: FlowInspector, costs: Costs, timer: number): FlowInspector {
  const kind = inner.constructor.name;
  const wrapper: FlowInspector = {
    segment(dir, seq, flags, buf, off, capLen, wireLen, sec, nsec) {
      const t0 = process.hrtime.bigint();
      const more = inner.segment(dir, seq, flags, buf, off, capLen, wireLen, sec, nsec);
      costs.add(kind, 1, capLen, Math.max(0, Number(process.hrtime.bigint() - t0) - timer));
      return more;
    },
  };
  if (inner.clientSide) wrapper.clientSide = () => inner.clientSide!();
  return wrapper;
}

/** The run's inspector factory with each inspector it makes timed, the making too. */
function timedFactory(f: InspectorFactory, costs: Costs, timer: number): InspectorFactory {
  const make = (build: () => FlowInspector | null): FlowInspector | null => {
    const t0 = process.hrtime.bigint();
    const ins = build();
    if (ins === null) return null;
    costs.add(ins.constructor.name, 0, 0, Math.max(0, Number(process.hrtime.bigint() - t0) - timer));
    return timed(ins, costs, timer);
  };
  return {
    byPorts: (a, b) => make(() => f.byPorts(a, b)),
    wantsPorts: f.wantsPorts ? (a, b) => f.wantsPorts!(a, b) : undefined,
    byPayload: (dir, buf, off, len) => make(() => f.byPayload(dir, buf, off, len)),
    byUdpPorts: f.byUdpPorts ? (a, b) => make(() => f.byUdpPorts!(a, b)) : undefined,
  };
}

async function main(file: string): Promise<void> {
  const rules = loadRules();
  const inspectors = new Inspectors(inspectorPorts(rules.services), {
    budget: DEFAULT_RPC_BUDGET,
    dcomIids: dcomActivatable(rules.rpcInterfaces.values()),
    setupCalls: setupCalls(rules.rpcInterfaces.values()),
    udpPorts: inspectorPorts(rules.services, 'udp'),
  });
  const costs = new Costs();
  const timer = timerNs();
  const table = new FlowTable({ capacity: 131072, doneHeldLimit: 131072 >> 3, inspectors: timedFactory(inspectors, costs, timer) });
  table.setFlushHandler(() => {});
  const ingest = new PacketIngest(table);
  ingest.beginCapture(0);
  await readCapture(file, ingest);
  table.flushAll();
  process.stdout.write(JSON.stringify({ timerNs: timer, kinds: costs.all() }));
}

runChild('inspectors', main);
