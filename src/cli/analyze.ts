import { CaptureOpenError } from '../capture/errors';
import { fingerprint, sha256File } from '../capture/fingerprint';
import { sha256InWorker } from '../capture/hash-worker';
import { readCapture } from '../capture/reader';
import { labelByPort, servicePortTest } from '../classify/by-port';
import { labelConnectionless, labelFromConnection, labelFromEndpoints, labelFromPipes } from '../classify/rpc';
import { RpcConnection } from '../dcerpc/connection';
import { RpcInspectorFactory } from '../dcerpc/factory';
import { endpointsOf } from '../dcerpc/registry';
import { SmbPipes } from '../dcerpc/smb';
import { linkTypeName } from '../decode/linktypes';
import { PacketIngest } from '../flow/ingest';
import { buildFlowRecord } from '../flow/record';
import { FlowTable } from '../flow/table';
import type { RuleSet } from '../rules/load';
import { inspectorPorts } from '../rules/services';
import { CaptureStore } from '../store/captures';
import type { FlowFacts, Verdict } from '../audit/verdict';
import type { Db } from '../store/db';
import { FlowWriter } from '../store/flows';
import { EndpointRegistryWriter, labelFlowsFromRegistry } from '../store/rpc-endpoints';
import { Progress } from './progress';

export interface AnalyzeOptions {
  force: boolean;
  progress: boolean;
  idleTimeout?: number;
  maxFlows?: number;
  version: string;
  /** Follow DCE/RPC and the endpoint mapper (default on; off only to measure its cost). */
  rpc?: boolean;
  /** Judges a flow as it is written out (roles known so far); absent = no verdicts. */
  judge?: (k: FlowFacts) => Verdict;
  /** Where warnings and notices go (stderr). */
  warn: (line: string) => void;
}

export interface CaptureOutcome {
  path: string;
  status: 'ok' | 'truncated' | 'failed' | 'skipped';
  packets: number;
  flows: number;
  warnings: number;
  seconds: number;
  error?: string;
}

/** Analyzes one capture into the database. Never throws for a bad capture: the outcome says what happened. */
export async function analyzeCapture(db: Db, rules: RuleSet, path: string, opts: AnalyzeOptions): Promise<CaptureOutcome> {
  const started = process.hrtime.bigint();
  const captures = new CaptureStore(db, opts.version);
  let ident: { size: number; fingerprint: string };
  try {
    ident = fingerprint(path);
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a capture file' : (e as Error).message;
    return failed(path, `${path}: ${why}`);
  }
  const previous = captures.findByFingerprint(ident.fingerprint, ident.size);
  if (previous.length > 0) {
    const sha = sha256File(path);
    const same = previous.filter((p) => p.sha256 === sha);
    if (same.length > 0) {
      if (!opts.force) {
        opts.warn(`exflow: ${path}: already analyzed as capture ${same[0].id} (same SHA-256); skipped (use --force to analyze it again)`);
        return { path, status: 'skipped', packets: 0, flows: 0, warnings: 0, seconds: 0 };
      }
      for (const p of same) captures.remove(p.id);
    }
  }

  const captureId = captures.begin(path, ident.size, ident.fingerprint);
  const rpc = opts.rpc === false ? null : new RpcInspectorFactory(inspectorPorts(rules.services));
  const table = new FlowTable({ capacity: opts.maxFlows, idleTimeout: opts.idleTimeout, inspectors: rpc });
  const ingest = new PacketIngest(table);
  const writer = new FlowWriter(db, captureId);
  const registry = new EndpointRegistryWriter(db, captureId);
  const isServicePort = servicePortTest(rules);
  let nonIpTowers = 0;
  table.setFlushHandler((t, i) => {
    const rec = buildFlowRecord(t, i, isServicePort);
    let labels = labelByPort(rules, rec);
    const conn = rec.inspector;
    if (conn instanceof RpcConnection) {
      conn.finish(rec.clientSide);
      labels = labelFromConnection(rules, conn, labels);
      const found = endpointsOf(conn, rec);
      nonIpTowers += found.nonIp;
      for (const e of found.endpoints) {
        const known = rules.rpcInterfaces.get(e.uuid);
        registry.add({ ...e, interface: known ? known.name : null, service: known?.service ?? null });
      }
    } else if (conn instanceof SmbPipes) {
      conn.finish();
      labels = labelFromPipes(rules, conn, labels);
    } else if (rec.transport === 'udp') {
      labels = labelConnectionless(rules, rec, labels) ?? labels;
    }
    const verdict = opts.judge ? opts.judge({ client: rec.client, server: rec.server, transport: rec.transport, serverPort: rec.serverPort, service: labels.service }) : null;
    writer.add(rec, labels, verdict);
  });
  const progress = new Progress(opts.progress);
  progress.start(path, ident.size);
  const hashing = sha256InWorker(path);
  try {
    const r = await readCapture(path, ingest, {
      onProgress: (bytes) => progress.update(bytes, ingest.counters.packets, table.stats.flowsCreated),
    });
    table.flushAll();
    const written = writer.close();
    const endpoints = registry.size;
    registry.flush();
    const rpcNamed = labelFlowsFromRegistry(db, captureId, (f, c) => labelFromEndpoints(rules, f, c), (k) => opts.judge?.(k) ?? null);
    progress.stop();
    const c = ingest.counters;
    const warnings = r.warnings.map((w) => ({ ...w }));
    if (c.unattributedFragments > 0) warnings.push({ offset: -1, message: `${c.unattributedFragments} IP fragments arrived without their first fragment; counted in the capture, not in any flow` });
    if (table.stats.forcedFlushes > 0) warnings.push({ offset: -1, message: `flow table full: ${table.stats.forcedFlushes} active flows written out early (raise --max-flows); such a flow may appear as two rows` });
    if (rpc && rpc.budget.refusals > 0) warnings.push({ offset: -1, message: `DCE/RPC reassembly memory bound reached ${rpc.budget.refusals} times; some RPC connections were not fully inspected (their rpc_note says so)` });
    if (c.unknownLinkPackets > 0) warnings.push({ offset: -1, message: `${c.unknownLinkPackets} packets on link types exflow does not decode (${[...ingest.unknownLinkTypes].map(linkTypeName).join(', ')})` });
    for (const w of warnings) opts.warn(`exflow: warning: ${path}${w.offset >= 0 ? `: byte ${w.offset}` : ''}: ${w.message}`);
    captures.updateHosts(captureId);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    captures.finish(captureId, {
      format: r.format + (r.compressed ? '+gzip' : ''),
      compressed: r.compressed,
      linkTypes: r.linkTypes.map(linkTypeName),
      packets: c.packets,
      bytes: c.bytes,
      firstSec: c.packets ? ingest.firstSec : null,
      firstNsec: c.packets ? ingest.firstNsec : null,
      lastSec: c.packets ? ingest.lastSec : null,
      lastNsec: c.packets ? ingest.lastNsec : null,
      status: r.status,
      warnings,
      flows: written,
      counters: {
        ...c,
        ...table.stats,
        rpcByPort: rpc?.attachedByPort ?? 0,
        rpcByPayload: rpc?.attachedByPayload ?? 0,
        rpcEndpoints: endpoints,
        rpcNonIpTowers: nonIpTowers,
        rpcNamedFromRegistry: rpcNamed,
      },
      sha256: await hashing,
      seconds,
    });
    return { path, status: r.status, packets: c.packets, flows: written, warnings: warnings.length, seconds };
  } catch (e) {
    progress.stop();
    await hashing;
    if (!(e instanceof CaptureOpenError)) throw e;
    // Kept as a 'failed' row so reports list every capture the user asked for.
    captures.finish(captureId, {
      format: 'unknown', compressed: false, linkTypes: [], packets: 0, bytes: 0,
      firstSec: null, firstNsec: null, lastSec: null, lastNsec: null, status: 'failed',
      warnings: [{ offset: -1, message: e.reason }], flows: 0, counters: {}, sha256: null,
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
    });
    return failed(path, e.message);
  }
}

function failed(path: string, error: string): CaptureOutcome {
  return { path, status: 'failed', packets: 0, flows: 0, warnings: 0, seconds: 0, error };
}
