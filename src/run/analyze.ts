// One analyze command is one run: its captures, ordered by their first packet,
// are read as one stream (one flow table, one DCE/RPC state) unless --separate,
// and nothing of the run is visible to reports until it completes. Standard
// input is a live run: flows are committed batch by batch as they end.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { CaptureOpenError } from '../capture/errors';
import { fingerprint, sha256File, StreamFingerprint } from '../capture/fingerprint';
import { HeadTee } from '../capture/head';
import { HashWorker } from '../capture/hash-worker';
import { byName, type Input } from '../capture/inputs';
import { peekCapture } from '../capture/peek';
import { describeFsError, readCapture, STDIN, type CaptureReadResult } from '../capture/reader';
import { servicePortTest } from '../classify/by-port';
import { classifyFlow } from '../classify/flow';
import { NO_PROTECTION } from '../classify/protection';
import { NO_NAMES } from '../classify/names';
import { NameWriter } from '../store/names';
import { conditionValues, protectionFindings } from '../audit/protection';
import { labelFromEndpoints } from '../classify/rpc';
import { dcomActivatable, Inspectors } from '../inspect';
import { linkTypeName } from '../decode/linktypes';
import { PacketIngest } from '../flow/ingest';
import { buildFlowRecord } from '../flow/record';
import { FlowTable, type FlowTableStats } from '../flow/table';
import type { RuleSet } from '../rules/load';
import { inspectorPorts } from '../rules/services';
import { CaptureStore } from '../store/captures';
import type { Db } from '../store/db';
import { FlowWriter } from '../store/flows';
import { EndpointRegistryWriter, labelFlowsFromRegistry, orientFromRegistry } from '../store/rpc-endpoints';
import { RunStore } from '../store/runs';
import { escapeControls } from '../report/format';
import type { RunProgress } from './progress';

export interface AnalyzeOptions {
  force: boolean;
  progress: RunProgress;
  idleTimeout?: number;
  maxFlows?: number;
  version: string;
  /** Follow DCE/RPC and the endpoint mapper (default on; off only to measure its cost). */
  rpc?: boolean;
  /** Each capture is its own stream (captures from different capture points). */
  separate: boolean;
  /** Live input: seconds between commits of the flows that ended. */
  flushInterval: number;
  /** Hash every capture in full (SHA-256, stored in captures.sha256). */
  sha256?: boolean;
  /** The command line, kept with the run. */
  command: string;
  /** Roles and verdicts for the whole database (the run's own flows judged again); runs inside the run's final transaction. */
  audit: (runId: number) => void;
  /** Asked between chunks: a signal asked exflow to stop. */
  shouldStop: () => boolean;
  /** Where warnings and notices go (stderr). */
  warn: (line: string) => void;
  /** Whether the database file is still the one opened (null) or how it changed: asked before and after each commit. */
  dbChanged?: () => string | null;
  /** Store a keyed hash instead of each account name (--redact-accounts). */
  redactAccount?: (account: string) => string;
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

export interface RunOutcome {
  runId: number;
  /** 'interrupted' when a signal stopped a file run before its end. */
  status: 'complete' | 'interrupted';
  captures: CaptureOutcome[];
  /** Flows the run stored (every file of a stream together). */
  flows: number;
  /** The files were read in another order than their names sort in. */
  reordered: boolean;
}

/** An input ready to be read: where it stands and what it is. */
interface Prepared {
  path: string;
  /** Standard input, a FIFO, a device: read once, hashed while read. */
  stream: boolean;
  size: number;
  fingerprint: string;
  firstSec: number;
  firstNsec: number;
  headDigest: string | null;
}

/** How a path is named in messages. */
const shown = (path: string) => (path === STDIN ? 'standard input' : escapeControls(path));

const ns = (sec: number, nsec: number) => (Number.isFinite(sec) ? sec * 1e9 + nsec : Infinity);

function isStreamInput(path: string): boolean {
  if (path === STDIN) return true;
  try {
    return !fs.statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The database failed under a run (disk full, I/O error, read-only file): exit 3. */
export class StoreFault extends Error {
  constructor(
    readonly reason: string,
    /** Inputs the run never began to read. */
    readonly notTried: string[],
  ) {
    super(reason);
    this.name = 'StoreFault';
  }
}

function sqliteFault(e: unknown): string | null {
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return null;
  if (code === 'SQLITE_FULL') return 'the disk is full (SQLITE_FULL)';
  if (code.startsWith('SQLITE_READONLY')) return `the database cannot be written (${code})`;
  if (code.startsWith('SQLITE_IOERR')) return `the disk failed to read or write (${code})`;
  if (code === 'SQLITE_BUSY') return 'another process holds the database locked (SQLITE_BUSY)';
  return `${(e as Error).message} (${code})`;
}

/**
 * Analyzes the inputs as one run. Never throws for a bad capture: outcomes say
 * what happened to each. A database fault is a StoreFault naming what was not tried.
 */
export async function analyzeRun(db: Db, rules: RuleSet, inputs: Input[], opts: AnalyzeOptions): Promise<RunOutcome> {
  const notTried = new Set(inputs.map((i) => i.path));
  const hasher = new HashWorker();
  try {
    return await runInputs(db, rules, inputs, opts, notTried, hasher);
  } catch (e) {
    const why = sqliteFault(e);
    if (why === null) throw e;
    try {
      // Best effort: the same fault may refuse this too; then the next command finds the run dead.
      db.prepare("UPDATE runs SET status = 'failed', note = ? WHERE pid = ? AND status = 'running'").run(why, process.pid);
    } catch {
      /* the run stays 'running' with a process that is gone: reported as dead */
    }
    throw new StoreFault(why, [...notTried]);
  } finally {
    hasher.close();
    opts.progress.stop();
  }
}

async function runInputs(db: Db, rules: RuleSet, inputs: Input[], opts: AnalyzeOptions, notTried: Set<string>, hasher: HashWorker): Promise<RunOutcome> {
  const runs = new RunStore(db);
  const captures = new CaptureStore(db, opts.version);
  for (const r of runs.markDead()) opts.warn(`exflow: note: run ${r.id} (started ${r.started_at}, "${r.command}") ended without finishing (killed?); its partial data was never shown and is removed now`);
  // Standard input, FIFOs, devices: read once, as streams (decided once per input).
  const streams = new Set(inputs.filter((i) => isStreamInput(i.path)).map((i) => i.path));
  const live = streams.size > 0;
  const runId = runs.begin(opts.command, live, opts.separate, opts.version);
  for (const id of runs.clearUnfinished(runId)) opts.warn(`exflow: note: removed the partial data of unfinished run ${id}`);

  const outcomes: CaptureOutcome[] = [];
  const skip = (path: string, why: string, status: 'skipped' | 'failed' = 'skipped') => {
    opts.warn(`exflow: ${status === 'failed' ? '' : 'note: '}${shown(path)}: ${why}`);
    outcomes.push({ path, status, packets: 0, flows: 0, warnings: 0, seconds: 0, error: status === 'failed' ? why : undefined });
  };

  // What each input is, where its first packet lies, and whether it was seen before.
  const prepared: Prepared[] = [];
  for (const input of inputs) {
    if (streams.has(input.path)) {
      prepared.push({ path: input.path, stream: true, size: 0, fingerprint: '', firstSec: NaN, firstNsec: NaN, headDigest: null });
      continue;
    }
    try {
      const id = fingerprint(input.path);
      const peek = await peekCapture(input.path);
      prepared.push({ path: input.path, stream: false, size: id.size, fingerprint: id.fingerprint, ...peek });
    } catch (e) {
      const why = e instanceof CaptureOpenError ? e.reason : describeFsError(e);
      // A directory's other files (notes, indexes) are expected: a note, not an error.
      if (input.found) skip(input.path, `not a capture (${why}); skipped`);
      else skip(input.path, why, 'failed');
    }
  }
  const byTime = prepared
    .map((p, i) => ({ p, i }))
    .sort((a, b) => ns(a.p.firstSec, a.p.firstNsec) - ns(b.p.firstSec, b.p.firstNsec) || a.i - b.i)
    .map((x) => x.p);
  const byNames = [...prepared].sort((a, b) => byName(a.path, b.path));
  const reordered = byTime.some((p, i) => p !== byNames[i]);

  const toRead: Prepared[] = [];
  const replace = new Set<number>();
  const heads = new Map<string, string>();
  for (const p of byTime) {
    if (p.headDigest !== null) {
      const twin = heads.get(p.headDigest);
      if (twin !== undefined) {
        skip(p.path, `the same packets as ${twin} (in this run); skipped`);
        continue;
      }
      heads.set(p.headDigest, p.path);
    }
    if (!p.stream) {
      const earlier = sameCapture(captures, p);
      if (earlier) {
        if (!opts.force) {
          skip(p.path, `already analyzed as capture ${earlier.id} (${earlier.why}) in run ${earlier.runId}; skipped (use --force to replace that run)`);
          continue;
        }
        replace.add(earlier.runId);
      }
    }
    toRead.push(p);
  }
  for (const id of replace) {
    runs.removeData(id, `replaced by run ${runId} (--force)`, 'replaced');
    opts.warn(`exflow: note: run ${id} replaced (--force): its captures are analyzed again in run ${runId}`);
  }

  const groups = opts.separate ? toRead.map((p) => [p]) : toRead.length ? [toRead] : [];
  const totalBytes = toRead.reduce((a, p) => a + p.size, 0);
  opts.progress.startRun(toRead.length, totalBytes);
  const writer = new FlowWriter(db, { redactAccount: opts.redactAccount });
  const registry = new EndpointRegistryWriter(db);
  const names = new NameWriter(db);
  const isServicePort = servicePortTest(rules);
  let interrupted = false;
  let skipped = false;
  let nonIpTowers = 0;
  let position = 0;
  let bytesBefore = 0;

  /** Everything that needs the whole run (or, live, everything so far): one transaction. */
  const settle = (final: boolean) => {
    opts.progress.phase(final ? 'writing flows' : 'committing');
    const gone = () => {
      const why = opts.dbChanged?.() ?? null;
      if (why) throw new StoreFault(why, []);
    };
    gone();
    writer.flush();
    names.flush();
    db.transaction(() => {
      registry.flush();
      orientFromRegistry(db, runId);
      labelFlowsFromRegistry(db, runId, (f, c) => labelFromEndpoints(rules, f, c));
      captures.countFlows(runId);
      // Hosts only the replaced runs knew go; this run's hosts (not visible yet) are added next.
      if (replace.size > 0) captures.dropOrphanHosts();
      captures.updateHosts(runId);
      opts.progress.phase('judging');
      opts.audit(runId);
      if (final) runs.finish(runId, 'complete');
      gone();
    })();
    gone();
  };

  // One flow table for the run (creating one costs ~140 ms): streams of --separate follow
  // each other, and each is flushed whole before the next, so none sees another's flows.
  const inspectors = opts.rpc === false ? null : new Inspectors(inspectorPorts(rules.services), { dcomIids: dcomActivatable(rules.rpcInterfaces.values()), udpPorts: inspectorPorts(rules.services, 'udp') });
  const rpc = inspectors?.rpc ?? null;
  const table = new FlowTable({ capacity: opts.maxFlows, idleTimeout: opts.idleTimeout, inspectors });
  const ingest = new PacketIngest(table);
  for (const group of groups) {
    if (interrupted) break;
    const captureIds: number[] = [];
    let streamId: number | null = null;
    let prevLast = -Infinity;
    let prevPath = '';
    table.setFlushHandler((t, i) => {
      const rec = buildFlowRecord(t, i, isServicePort);
      const firstCapture = captureIds[t.firstFile[i]];
      const { labels, payload, protection, names: wire, endpoints, nonIpTowers: nonIp } = classifyFlow(rules, rec);
      if (wire !== NO_NAMES) names.add(firstCapture, rec.firstSec, rec.lastSec, wire.names, wire.evidence);
      nonIpTowers += nonIp;
      for (const e of endpoints) {
        const known = rules.rpcInterfaces.get(e.uuid);
        registry.add({ ...e, interface: known ? known.name : null, service: known?.service ?? null, captureId: firstCapture });
      }
      const findings = protection === NO_PROTECTION && payload.tls === null ? [] : protectionFindings(rules.protection, conditionValues(labels.service, payload, protection));
      writer.add(firstCapture, captureIds[t.lastFile[i]], rec, labels, payload, protection, findings);
    });

    for (let k = 0; k < group.length; k++) {
      const p = group[k];
      if (opts.shouldStop()) {
        interrupted = true;
        break;
      }
      const started = process.hrtime.bigint();
      notTried.delete(p.path);
      const captureId = captures.begin(p.path, p.size, p.fingerprint, { runId, streamId, position: position++, headDigest: p.headDigest });
      streamId ??= captureId;
      captureIds[k] = captureId;
      ingest.beginCapture(k);
      const statsBefore: FlowTableStats = { ...table.stats };
      // What the capture's row is written from, whenever it is (live commits, failure, the end).
      const row: CaptureRowSource = { captures, id: captureId, ingest, table, statsBefore, started };
      const refusalsBefore = rpc?.budget.refusals ?? 0;
      opts.progress.file(position, p.path, p.size);

      // With --sha256: a regular file is hashed on the second core; a stream, which cannot be read
      // twice, as it is read. Without, a capture's identity is its size with its first and last MiB,
      // and its first records: SHA-256 runs at ~1.9 GB/s, on a large capture longer than the analysis.
      const inlineHash = opts.sha256 && p.stream ? crypto.createHash('sha256') : null;
      const hashing = opts.sha256 && !p.stream ? hasher.hash(p.path) : null;
      const streamPrint = p.stream ? new StreamFingerprint() : null;
      const tee = p.stream ? new HeadTee(ingest) : null;
      let duplicateOf: string | null = null;
      let nextCommit = Date.now() + opts.flushInterval * 1000;
      let r: CaptureReadResult;
      try {
        r = await readCapture(p.path, tee ?? ingest, {
          onInput: streamPrint
            ? (c) => {
                streamPrint.update(c);
                inlineHash?.update(c);
              }
            : undefined,
          onProgress: (bytes) => {
            opts.progress.update(bytesBefore + bytes, ingest.counters.packets, table.stats.flowsCreated);
            if (tee && duplicateOf === null && tee.head.done && !opts.force) {
              const d = tee.head.digest();
              const twin = d ? captures.findByHead(d)[0] : undefined;
              duplicateOf = twin ? `capture ${twin.id} (${shown(twin.path)})` : '';
            }
            if (p.stream && Date.now() >= nextCommit) {
              // Live: flows that ended since the last commit become visible now.
              nextCommit = Date.now() + opts.flushInterval * 1000;
              writeCaptureRow(row, { result: null, status: 'running', warnings: [], sha: null, nonIpTowers });
              settle(false);
              opts.progress.phase(null);
            }
          },
          shouldStop: () => opts.shouldStop() || (duplicateOf !== null && duplicateOf !== ''),
        });
      } catch (e) {
        await hashing;
        if (sqliteFault(e) !== null) throw e; // the database's fault, not this capture's
        const why = e instanceof CaptureOpenError ? e.reason : describeFsError(e);
        writeCaptureRow(row, { result: null, status: 'failed', warnings: [{ offset: -1, message: why }], sha: null, nonIpTowers });
        outcomes.push({ path: p.path, status: 'failed', packets: 0, flows: 0, warnings: 0, seconds: 0, error: `${shown(p.path)}: ${why}` });
        opts.warn(`exflow: ${shown(p.path)}: ${why}`);
        continue;
      }
      bytesBefore += p.size;
      if (duplicateOf) {
        // Standard input carrying packets already analyzed: nothing of it is kept.
        table.setFlushHandler(() => {});
        table.flushAll();
        writer.discard();
        names.discard();
        runs.removeData(runId, `standard input repeated ${duplicateOf}`, null);
        skip(p.path, `the same packets as ${duplicateOf}; skipped (use --force to analyze them again)`);
        skipped = true;
        break;
      }
      if (r.stopped && !p.stream) {
        interrupted = true;
        break;
      }
      const sha = inlineHash ? inlineHash.digest('hex') : ((await hashing) ?? null);
      // A stream's fingerprint, like a file's: its size and its first and last MiB.
      if (p.stream) captures.identify(captureId, streamPrint!.size, streamPrint!.digest(), tee!.head.digest());
      const c = ingest.counters;
      const warnings = r.warnings.map((w) => ({ ...w }));
      const firstNs = ns(ingest.firstSec, ingest.firstNsec);
      if (c.packets > 0 && firstNs < prevLast) {
        warnings.push({ offset: -1, message: `its packets begin before the end of ${shown(prevPath)}, read before it: the files overlap in time (captures from different capture points? use --separate)` });
      }
      if (c.packets > 0) {
        prevLast = Math.max(prevLast, ns(ingest.lastSec, ingest.lastNsec));
        prevPath = p.path;
      }
      const forced = table.stats.forcedFlushes - statsBefore.forcedFlushes;
      const cut = table.stats.snapCutFlows - statsBefore.snapCutFlows;
      if (cut > 0) warnings.push({ offset: -1, message: `the snaplen cut the payload of ${cut} flow${cut === 1 ? '' : 's'}: what lay beyond it could not be inspected (their rpc_note says "cut by the snaplen"; such flows are named by port or by what was left, and a flow whose RPC interface could not be read is judged unknown)` });
      if (c.unattributedFragments > 0) warnings.push({ offset: -1, message: `${c.unattributedFragments} IP fragments arrived without their first fragment; counted in the capture, not in any flow` });
      if (forced > 0) warnings.push({ offset: -1, message: `flow table full: ${forced} active flows written out early (raise --max-flows); such a flow may appear as two rows` });
      const refusals = (rpc?.budget.refusals ?? 0) - refusalsBefore;
      if (refusals > 0) warnings.push({ offset: -1, message: `payload memory bound (${(rpc!.budget.limit / 1048576).toFixed(0)} MiB for DCE/RPC reassembly, mapper answers and TLS handshakes) reached ${refusals} times; what did not fit was not kept (the flows' rpc_note says so for RPC)` });
      const deep = ingest.decoder.tooDeep;
      const exts = ingest.decoder.tooManyExtensions;
      if (deep > 0) warnings.push({ offset: -1, message: `${deep} packets inside more than 4 nested tunnels; counted as other IP, not followed` });
      if (exts > 0) warnings.push({ offset: -1, message: `${exts} IPv6 packets with more than 8 extension headers; counted as other IP, transport not reached` });
      if (c.emptyRecords > 0) warnings.push({ offset: -1, message: `${c.emptyRecords} records hold no captured bytes (counted as packets, nothing to decode)` });
      if (c.unknownLinkPackets > 0) warnings.push({ offset: -1, message: `${c.unknownLinkPackets} packets on link types exflow does not decode (${[...ingest.unknownLinkTypes].map(linkTypeName).join(', ')})` });
      for (const w of warnings) opts.warn(`exflow: warning: ${shown(p.path)}${w.offset >= 0 ? `: byte ${w.offset}` : ''}: ${w.message}`);
      const seconds = writeCaptureRow(row, { result: r, status: r.status, warnings, sha, nonIpTowers });
      outcomes.push({ path: p.path, status: r.status, packets: c.packets, flows: 0, warnings: warnings.length, seconds });
      if (r.stopped) break; // live input stopped by a signal: what was read is kept
    }
    if (interrupted || skipped) break;
    opts.progress.phase('writing flows');
    table.flushAll();
  }

  if (interrupted) {
    writer.flush();
    runs.finish(runId, 'interrupted', 'stopped by a signal; nothing of this run is shown; run the same command again to analyze it');
    opts.progress.stop();
    return { runId, status: 'interrupted', captures: outcomes, flows: 0, reordered };
  }
  settle(true);
  opts.progress.stop();
  const flows = db.prepare('SELECT count(*) FROM flows WHERE capture_id IN (SELECT id FROM captures WHERE run_id = ?)').pluck().get(runId) as number;
  const perCapture = new Map((db.prepare('SELECT path, flows FROM captures WHERE run_id = ?').raw().all(runId) as [string, number][]));
  for (const o of outcomes) if (o.status === 'ok' || o.status === 'truncated') o.flows = perCapture.get(o.path) ?? 0;
  // Every input was already analyzed (skipped as a duplicate): the run added nothing, and `exflow runs` does not list it.
  const stored = db.prepare('SELECT count(*) FROM captures WHERE run_id = ?').pluck().get(runId) as number;
  if (stored === 0 && outcomes.length > 0 && outcomes.every((o) => o.status === 'skipped')) db.prepare('DELETE FROM runs WHERE id = ?').run(runId);
  return { runId, status: 'complete', captures: outcomes, flows, reordered };
}

/**
 * An earlier, finished capture with the same bytes or the same first packets. The
 * same size, first and last MiB is the same file; where the earlier capture was
 * hashed in full, the SHA-256 confirms it.
 */
function sameCapture(captures: CaptureStore, p: Prepared): { id: number; runId: number; why: string } | null {
  const byFp = captures.findByFingerprint(p.fingerprint, p.size);
  if (byFp.length > 0) {
    const hashed = byFp.filter((c) => c.sha256 !== null);
    if (hashed.length === 0) return { id: byFp[0].id, runId: byFp[0].run_id, why: 'same size, first and last MiB' };
    const sha = sha256File(p.path);
    const same = hashed.find((c) => c.sha256 === sha);
    if (same) return { id: same.id, runId: same.run_id, why: 'same SHA-256' };
  }
  if (p.headDigest) {
    const twin = captures.findByHead(p.headDigest)[0];
    if (twin) return { id: twin.id, runId: twin.run_id, why: `the same first packets as ${shown(twin.path)}, perhaps in another format` };
  }
  return null;
}

/** The parts of a run a capture's row is made from. */
interface CaptureRowSource {
  captures: CaptureStore;
  id: number;
  ingest: PacketIngest;
  table: FlowTable;
  /** The flow table's counters when the capture began (its row counts the difference). */
  statsBefore: FlowTableStats;
  started: bigint;
}

function writeCaptureRow(
  { captures, id, ingest, table, statsBefore, started }: CaptureRowSource,
  { result: r, status, warnings, sha, nonIpTowers }: {
    result: CaptureReadResult | null;
    status: 'ok' | 'truncated' | 'failed' | 'running';
    warnings: { offset: number; message: string }[];
    sha: string | null;
    nonIpTowers: number;
  },
): number {
  const c = ingest.counters;
  const stats = table.stats;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  captures.finish(id, {
    format: r ? r.format + (r.compressed ? '+gzip' : '') : 'unknown',
    compressed: r?.compressed ?? false,
    linkTypes: r ? r.linkTypes.map(linkTypeName) : [],
    packets: c.packets,
    bytes: c.bytes,
    firstSec: c.packets ? ingest.firstSec : null,
    firstNsec: c.packets ? ingest.firstNsec : null,
    lastSec: c.packets ? ingest.lastSec : null,
    lastNsec: c.packets ? ingest.lastNsec : null,
    status,
    warnings,
    flows: 0,
    counters: {
      ...c,
      flowsCreated: stats.flowsCreated - statsBefore.flowsCreated,
      flowsFlushed: stats.flowsFlushed - statsBefore.flowsFlushed,
      forcedFlushes: stats.forcedFlushes - statsBefore.forcedFlushes,
      portReuse: stats.portReuse - statsBefore.portReuse,
      fragmentsAttributed: stats.fragmentsAttributed - statsBefore.fragmentsAttributed,
      fragmentsUnattributed: stats.fragmentsUnattributed - statsBefore.fragmentsUnattributed,
      inspectorsReleased: stats.inspectorsReleased - statsBefore.inspectorsReleased,
      snapCutFlows: stats.snapCutFlows - statsBefore.snapCutFlows,
      rpcNonIpTowers: nonIpTowers,
    },
    sha256: sha,
    seconds,
  });
  return seconds;
}
