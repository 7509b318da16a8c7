// The reading of one stream of captures (a run's files, or one of them with
// --separate) into one flow table, for one share of the flows: every flow that ends
// becomes a row and what it taught (names, RPC endpoints), handed on in batches. With
// one thread the run reads its streams here itself; with more, each worker thread
// (src/run/worker.ts) reads every file with a share of its own, and the batches travel
// to the thread that owns the database. All per-flow state lives in the table and its
// inspectors, so the shares never need each other until the run settles.
import { classifyFlow, type ClassifiedFlow } from '../classify/flow';
import { NO_NAMES, type HostName, type NameEvidence } from '../classify/names';
import { NO_PROTECTION } from '../classify/protection';
import { conditionValues, protectionFindings } from '../audit/protection';
import { readCapture, type CaptureReadResult, type ReadOptions } from '../capture/reader';
import type { PacketSink } from '../capture/sink';
import { DEFAULT_RPC_BUDGET } from '../inspect/dcerpc/factory';
import { dcomActivatable, Inspectors, setupCalls } from '../inspect';
import type { Endpoint } from '../inspect/dcerpc/registry';
import { PacketIngest, type IngestCounters } from '../flow/ingest';
import { buildFlowRecord } from '../flow/record';
import { FlowTable, type FlowTableStats } from '../flow/table';
import type { RuleSet } from '../rules/load';
import { inspectorPorts } from '../rules/services';
import { servicePortTest } from '../classify/by-port';
import { flowRow } from '../store/flows';
import { HeapKeeper } from './heap';

export interface Share {
  index: number;
  count: number;
}

export interface StreamSetup {
  /** Follow DCE/RPC and the other payload inspectors (default on). */
  rpc: boolean;
  /** Most flows the run's tables hold at once (shared out among the shares). */
  maxFlows?: number;
  /**
   * The most flows the inputs can hold (regular, uncompressed files: see Peek.mostFlows); the
   * table is made no bigger (a full-size table costs ~15 ms and its garbage collections, most of
   * a small capture's time). Unset for streams and compressed files.
   */
  mostFlows?: number;
  idleTimeout?: number;
  share: Share;
}

/** A table sized by the inputs' bytes is made at least this big (a file may grow while it is read). */
const FEWEST_TABLE_FLOWS = 8192;

/** A flow's names, as NameWriter.add takes them, its capture given by position in the stream. */
export interface FlowNames {
  position: number;
  firstSec: number;
  lastSec: number;
  names: HostName[];
  evidence: NameEvidence[];
}

/** An RPC endpoint a flow taught, its interface named from the rules, its capture by position. */
export interface FlowEndpoint extends Endpoint {
  interface: string | null;
  service: string | null;
  position: number;
}

/**
 * Flows that ended, as rows (FlowWriter's, with the positions of their first and last
 * capture where the capture ids go) and what they taught. Plain data: it may cross threads.
 */
export interface FlowBatch {
  /** Which stream of the run (0, 1, … with --separate) the positions are in. */
  stream: number;
  rows: unknown[][];
  names: FlowNames[];
  endpoints: FlowEndpoint[];
  /** Pairs (position, count): towers without an IP transport in the answers of flows that began there. */
  nonIpTowers: number[];
}

/** What one capture's reading counted, in one share; the run adds the shares up (mergeTallies). */
export interface CaptureTally {
  counters: IngestCounters;
  /** The flow table's counters while this capture was read. */
  stats: FlowTableStats;
  tooDeep: number;
  tooManyExtensions: number;
  unknownLinkTypes: number[];
  /** Times the payload memory bound refused bytes, and the bound (bytes). */
  refusals: number;
  budgetLimit: number;
  /** Flows kept with their port facts only, their payload facts having failed; the first one. */
  factFaults: number;
  firstFactFault: string | null;
  firstSec: number;
  firstNsec: number;
  lastSec: number;
  lastNsec: number;
}

const BATCH_ROWS = 2000;

export class StreamReader {
  readonly table: FlowTable;
  readonly ingest: PacketIngest;
  private readonly inspectors: Inspectors | null;
  /** The stream being read: 0 for the first, one more after each endStream(). */
  private stream = 0;
  private batch: FlowBatch = emptyBatch(0);
  private statsBefore: FlowTableStats;
  private refusalsBefore = 0;
  /** The heap of the thread that reads, kept near what it holds (one check a batch). */
  private readonly heap = new HeapKeeper();
  /** Flows of the capture being read whose payload facts could not be read, and the first such. */
  private faults = 0;
  private firstFault: string | null = null;

  /** @param out receives each batch of flows that ended (at BATCH_ROWS rows, and when drained) */
  constructor(
    private readonly rules: RuleSet,
    setup: StreamSetup,
    private readonly out: (batch: FlowBatch) => void,
  ) {
    const n = setup.share.count;
    // Memory stays that of one thread: the flow table's capacity and the payload budget are shared out.
    const share = Math.ceil((setup.maxFlows ?? 131072) / n);
    const capacity = Math.min(share, Math.max(FEWEST_TABLE_FLOWS, setup.mostFlows ?? Infinity));
    this.inspectors = setup.rpc === false ? null : new Inspectors(inspectorPorts(rules.services), {
      budget: Math.floor(DEFAULT_RPC_BUDGET / n),
      dcomIids: dcomActivatable(rules.rpcInterfaces.values()),
      setupCalls: setupCalls(rules.rpcInterfaces.values()),
      udpPorts: inspectorPorts(rules.services, 'udp'),
    });
    // Done flows held are bounded as in a full-size table: the same flows written at the same time.
    this.table = new FlowTable({ capacity, doneHeldLimit: share >> 3, idleTimeout: setup.idleTimeout, inspectors: this.inspectors });
    this.ingest = new PacketIngest(this.table, setup.share);
    this.statsBefore = { ...this.table.stats };
    const isServicePort = servicePortTest(rules);
    this.table.setFlushHandler((t, i) => {
      const rec = buildFlowRecord(t, i, isServicePort);
      const first = t.firstFile[i];
      let facts: ClassifiedFlow;
      try {
        facts = classifyFlow(this.rules, rec);
      } catch (e) {
        // One flow's payload facts that cannot be read are that flow's loss, never the run's:
        // it is kept with what its ports say, and the capture warns (first fault named).
        this.faults++;
        this.firstFault ??= `${rec.transport} ${rec.client}:${rec.clientPort} → ${rec.server}:${rec.serverPort}: ${(e as Error)?.message ?? String(e)}`;
        facts = classifyFlow(this.rules, { ...rec, inspector: null });
      }
      const { labels, payload, protection, names: wire, endpoints, nonIpTowers } = facts;
      const b = this.batch;
      if (wire !== NO_NAMES) b.names.push({ position: first, firstSec: rec.firstSec, lastSec: rec.lastSec, names: wire.names, evidence: wire.evidence });
      if (nonIpTowers > 0) b.nonIpTowers.push(first, nonIpTowers);
      for (const e of endpoints) {
        const known = this.rules.rpcInterfaces.get(e.uuid);
        b.endpoints.push({ ...e, interface: known ? known.name : null, service: known?.service ?? null, position: first });
      }
      const findings = protection === NO_PROTECTION && payload.tls === null ? [] : protectionFindings(this.rules.protection, conditionValues(labels.service, payload, protection));
      b.rows.push(flowRow(first, t.lastFile[i], rec, labels, payload, protection, findings));
      if (b.rows.length >= BATCH_ROWS) this.drain();
    });
  }

  /** The next capture of the stream, at `position` (its own counts; the flow table carries on). */
  beginCapture(position: number): void {
    this.ingest.beginCapture(position);
    this.statsBefore = { ...this.table.stats };
    this.refusalsBefore = this.inspectors?.rpc.budget.refusals ?? 0;
    this.faults = 0;
    this.firstFault = null;
  }

  /** Reads one capture through `sink` (the ingest, or a tee in front of it). */
  read(path: string, opts: ReadOptions, sink: PacketSink = this.ingest): Promise<CaptureReadResult> {
    return readCapture(path, sink, opts);
  }

  /** What the capture begun last counted so far. */
  tally(): CaptureTally {
    const s = this.table.stats;
    const b = this.statsBefore;
    const ing = this.ingest;
    const budget = this.inspectors?.rpc.budget;
    return {
      counters: { ...ing.counters },
      stats: {
        flowsCreated: s.flowsCreated - b.flowsCreated,
        flowsFlushed: s.flowsFlushed - b.flowsFlushed,
        forcedFlushes: s.forcedFlushes - b.forcedFlushes,
        doneEarly: s.doneEarly - b.doneEarly,
        portReuse: s.portReuse - b.portReuse,
        fragmentsAttributed: s.fragmentsAttributed - b.fragmentsAttributed,
        fragmentsUnattributed: s.fragmentsUnattributed - b.fragmentsUnattributed,
        inspectorsReleased: s.inspectorsReleased - b.inspectorsReleased,
        snapCutFlows: s.snapCutFlows - b.snapCutFlows,
      },
      tooDeep: ing.decoder.tooDeep,
      tooManyExtensions: ing.decoder.tooManyExtensions,
      unknownLinkTypes: [...ing.unknownLinkTypes],
      refusals: (budget?.refusals ?? 0) - this.refusalsBefore,
      budgetLimit: budget?.limit ?? DEFAULT_RPC_BUDGET,
      factFaults: this.faults,
      firstFactFault: this.firstFault,
      firstSec: ing.firstSec,
      firstNsec: ing.firstNsec,
      lastSec: ing.lastSec,
      lastNsec: ing.lastNsec,
    };
  }

  /** The end of the stream: every flow still open is written out. */
  endStream(): void {
    this.table.flushAll();
    this.drain();
    this.batch = emptyBatch(++this.stream);
  }

  /** A live run's commit: flows ended by the wall clock's reckoning are written out (FlowTable.settleLive). */
  settleLive(quietSeconds: number): void {
    this.table.settleLive(quietSeconds);
  }

  /** Hands on the flows that ended since the last batch. */
  drain(): void {
    this.heap.check();
    const b = this.batch;
    if (b.rows.length === 0 && b.names.length === 0 && b.endpoints.length === 0 && b.nonIpTowers.length === 0) return;
    this.batch = emptyBatch(this.stream);
    this.out(b);
  }

  /** Forgets the stream: the open flows go nowhere (an input found to repeat an earlier one). */
  discard(): void {
    this.table.setFlushHandler(() => {});
    this.table.flushAll();
    this.batch = emptyBatch(this.stream);
  }
}

function emptyBatch(stream: number): FlowBatch {
  return { stream, rows: [], names: [], endpoints: [], nonIpTowers: [] };
}

/**
 * One capture's counts from every share. Every share reads every packet, so the
 * counts of packets as such (bytes, times, what was not TCP/UDP) are the same in each
 * and taken once; what belongs to flows is added up. A later fragment is taken by at
 * most one share: the run's unattributed ones are those no share took.
 */
export function mergeTallies(tallies: CaptureTally[]): CaptureTally {
  const [t0] = tallies;
  if (tallies.length === 1) return t0;
  const sum = <K extends string>(get: (t: CaptureTally) => Record<K, number>, key: K) => tallies.reduce((a, t) => a + get(t)[key], 0);
  const counters = { ...t0.counters };
  counters.flowPackets = sum((t) => t.counters, 'flowPackets');
  counters.fragmentPackets = sum((t) => t.counters, 'fragmentPackets');
  // Each share: taken + not taken = every later TCP/UDP fragment.
  counters.unattributedFragments = t0.counters.fragmentPackets + t0.counters.unattributedFragments - counters.fragmentPackets;
  const stats = { ...t0.stats };
  for (const k of Object.keys(stats) as (keyof FlowTableStats)[]) stats[k] = sum((t) => t.stats, k);
  stats.fragmentsUnattributed = t0.stats.fragmentsAttributed + t0.stats.fragmentsUnattributed - stats.fragmentsAttributed;
  return {
    ...t0,
    counters,
    stats,
    refusals: tallies.reduce((a, t) => a + t.refusals, 0),
    factFaults: tallies.reduce((a, t) => a + t.factFaults, 0),
    firstFactFault: tallies.find((t) => t.firstFactFault !== null)?.firstFactFault ?? null,
    budgetLimit: tallies.reduce((a, t) => a + t.budgetLimit, 0),
  };
}
