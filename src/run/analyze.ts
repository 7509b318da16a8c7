// One analyze command is one run: its captures, ordered by their first packet,
// are read as one stream (one flow table, one DCE/RPC state) unless --separate,
// and nothing of the run is visible to reports until it completes. Standard
// input is a live run: flows are committed batch by batch as they end.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { CaptureOpenError } from '../capture/errors';
import { fingerprint, sha256File, StreamFingerprint } from '../capture/fingerprint';
import { HeadTee } from '../capture/head';
import { firstRecords, samePrefix, SkipFirst, type RecordsSeen } from '../capture/resume';
import { HashWorker } from '../capture/hash-worker';
import { byName, type Input } from '../capture/inputs';
import { peekCapture } from '../capture/peek';
import { describeFsError, readCapture, STDIN, type CaptureReadResult } from '../capture/reader';
import { interfacePath } from '../capture/live';
import type { Readable } from 'node:stream';
import { NameWriter } from '../store/names';
import { labelFromEndpoints } from '../classify/rpc';
import { linkTypeName } from '../decode/linktypes';
import type { RuleSet } from '../rules/load';
import { threadsFor } from './thread-policy';
import { CaptureStore } from '../store/captures';
import type { Db } from '../store/db';
import { FlowWriter } from '../store/flows';
import { EndpointRegistryWriter, labelFlowsFromRegistry, orientFromRegistry } from '../store/rpc-endpoints';
import { RunStore } from '../store/runs';
import { escapeControls } from '../report/format';
import type { RunProgress } from './progress';
import { StreamReader, type CaptureTally, type FlowBatch } from './stream';
import { readThreaded } from './threads';

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
  /** Where warnings and notices go (stderr); `kind` groups lines that say the same of different files. */
  warn: (line: string, kind?: string) => void;
  /** Whether the database file is still the one opened (null) or how it changed: asked before and after each commit. */
  dbChanged?: () => string | null;
  /** Store a keyed hash instead of each account name (--redact-accounts). */
  redactAccount?: (account: string) => string;
  /** Reading threads (--threads; default: one per core but one, for runs of 64 MiB or more, else one). */
  threads?: number;
  /** The sensor (capture point) the captures come from (--sensor; default: this host's name). */
  sensor?: string;
  /** An input that is a stream already open (analyze --interface: the capture process's output), by the path the inputs name it. */
  live?: { path: string; stream: Readable };
}

export interface CaptureOutcome {
  path: string;
  status: 'ok' | 'truncated' | 'failed' | 'skipped';
  packets: number;
  flows: number;
  warnings: number;
  seconds: number;
  error?: string;
  /** A file found in a directory that is not a capture at all (a note, an index). */
  notCapture?: boolean;
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
  /** Threads that read the captures (1: this one). */
  threads: number;
}

/** An input ready to be read: where it stands and what it is. */
interface Prepared {
  path: string;
  /** A file that begins with a capture read before: the records to skip, and whose they are. */
  resume?: Resume;
  /** Standard input, a FIFO, a device: read once, hashed while read. */
  stream: boolean;
  size: number;
  fingerprint: string;
  firstSec: number;
  firstNsec: number;
  headDigest: string | null;
  mostFlows: number;
}

/** How a path is named in messages. */
const shown = (path: string) => (path === STDIN ? 'standard input' : path.startsWith(INTERFACE_PREFIX) ? `interface ${escapeControls(path.slice(INTERFACE_PREFIX.length))}` : escapeControls(path));
const INTERFACE_PREFIX = interfacePath('');

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
/** What a capture's warning says, whatever the file and numbers: the lines of one kind are counted together. */
function warningKind(message: string): string {
  if (message.startsWith('its packets begin before the end of ')) return 'files that overlap in time';
  const k = message.replace(/\d+/g, 'N');
  return k.length > 80 ? `${k.slice(0, 77)}...` : k;
}

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
  const streams = new Set(inputs.filter((i) => i.path === opts.live?.path || isStreamInput(i.path)).map((i) => i.path));
  const live = streams.size > 0;
  const runId = runs.begin(opts.command, live, opts.separate, opts.version, opts.sensor);
  for (const id of runs.clearUnfinished(runId)) opts.warn(`exflow: note: removed the partial data of unfinished run ${id}`);

  const outcomes: CaptureOutcome[] = [];
  const skip = (path: string, why: string, status: 'skipped' | 'failed' = 'skipped', notCapture = false) => {
    opts.warn(`exflow: ${status === 'failed' ? '' : 'note: '}${shown(path)}: ${why}`);
    outcomes.push({ path, status, packets: 0, flows: 0, warnings: 0, seconds: 0, error: status === 'failed' ? why : undefined, ...(notCapture ? { notCapture } : {}) });
  };

  // What each input is, where its first packet lies, and whether it was seen before.
  const prepared: Prepared[] = [];
  for (const input of inputs) {
    if (streams.has(input.path)) {
      prepared.push({ path: input.path, stream: true, size: 0, fingerprint: '', firstSec: NaN, firstNsec: NaN, headDigest: null, mostFlows: Infinity });
      continue;
    }
    try {
      const id = fingerprint(input.path);
      const peek = await peekCapture(input.path);
      prepared.push({ path: input.path, stream: false, size: id.size, fingerprint: id.fingerprint, ...peek });
    } catch (e) {
      const why = e instanceof CaptureOpenError ? e.reason : describeFsError(e);
      // A directory's other files (notes, indexes) are expected: a note, not an error.
      if (input.found) skip(input.path, `not a capture (${why}); skipped`, 'skipped', true);
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
      const earlier = sameCapture(captures, p) ?? (await readBefore(captures, p));
      if (earlier && 'after' in earlier && !opts.force) {
        // The file begins with a capture read before (a ring file that grew, files appended):
        // only its new records are read; the earlier ones are counted as skipped.
        p.resume = earlier;
        opts.warn(`exflow: note: ${shown(p.path)}: its first ${earlier.after.records} records are capture ${earlier.id} (${shown(earlier.path)}), read in run ${earlier.runId}; reading what follows them`);
      } else if (earlier) {
        if (!opts.force && 'why' in earlier) {
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
  const writer = new FlowWriter(db, { runId, live, redactAccount: opts.redactAccount });
  const registry = new EndpointRegistryWriter(db);
  const names = new NameWriter(db, opts.redactAccount);
  // Redacting: a page freed by this run (the rows of a run it replaces) is overwritten, so no
  // clear account is left in the file's free space (the WAL is truncated when the run ends).
  if (opts.redactAccount) db.pragma('secure_delete = ON');
  let interrupted = false;
  let skipped = false;
  /** Per capture id: towers without an IP transport in the mapper answers of its flows (counters.rpcNonIpTowers). */
  const nonIpTowers = new Map<number, number>();
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
      captures.countNonIpTowers(nonIpTowers);
      orientFromRegistry(db, runId);
      labelFlowsFromRegistry(db, runId, (f, c) => labelFromEndpoints(rules, f, c));
      captures.countFlows(runId);
      // Hosts only the replaced runs knew go; this run's hosts (not visible yet) are added next.
      if (replace.size > 0) captures.dropOrphanHosts();
      captures.updateHosts(runId);
      opts.progress.phase('judging');
      opts.audit(runId);
      gone();
    })();
    gone();
  };

  /** The capture ids of each stream, by position: rows and names come with positions. */
  const idsByStream: number[][] = groups.map(() => []);
  const take = (b: FlowBatch) => {
    const ids = idsByStream[b.stream];
    for (const row of b.rows) {
      row[0] = ids[row[0] as number];
      row[1] = ids[row[1] as number];
      writer.addRow(row);
    }
    for (const n of b.names) names.add(ids[n.position], n.firstSec, n.lastSec, n.names, n.evidence);
    for (const e of b.endpoints) {
      const { position: at, ...endpoint } = e;
      registry.add({ ...endpoint, captureId: ids[at] });
    }
    for (let i = 0; i < b.nonIpTowers.length; i += 2) {
      const id = ids[b.nonIpTowers[i]];
      nonIpTowers.set(id, (nonIpTowers.get(id) ?? 0) + b.nonIpTowers[i + 1]);
    }
  };

  /** Per stream: the end of the capture read before, to tell files that overlap in time. */
  const overlap = groups.map(() => ({ prevLast: -Infinity, prevPath: '', streamId: null as number | null }));
  const begin = (s: number, k: number): Reading => {
    const p = groups[s][k];
    const started = process.hrtime.bigint();
    notTried.delete(p.path);
    const o = overlap[s];
    const captureId = captures.begin(p.path, p.size, p.fingerprint, { runId, streamId: o.streamId, position: position++, headDigest: p.headDigest });
    o.streamId ??= captureId;
    idsByStream[s][k] = captureId;
    opts.progress.file(position, p.path, p.size);
    // With --sha256: a regular file is hashed on the second core; a stream, which cannot be read
    // twice, as it is read. Without, a capture's identity is its size with its first and last MiB,
    // and its first records: SHA-256 runs at ~1.9 GB/s, on a large capture longer than the analysis.
    const hashing = opts.sha256 && !p.stream ? hasher.hash(p.path) : null;
    return { p, s, captureId, started, hashing };
  };
  /** A capture that could not be read after all (it vanished, it cannot be opened). */
  const failed = async (x: Reading, why: string, tally: CaptureTally) => {
    await x.hashing;
    writeCaptureRow(captures, x, tally, { result: null, status: 'failed', warnings: [{ offset: -1, message: why }], sha: null });
    outcomes.push({ path: x.p.path, status: 'failed', packets: 0, flows: 0, warnings: 0, seconds: 0, error: `${shown(x.p.path)}: ${why}` });
    opts.warn(`exflow: ${shown(x.p.path)}: ${why}`);
  };
  /** A capture read to its end (or its damage): its warnings and its row. */
  const finished = (x: Reading, r: CaptureReadResult, tally: CaptureTally, sha: string | null) => {
    bytesBefore += x.p.size;
    const c = tally.counters;
    const o = overlap[x.s];
    const warnings = r.warnings.map((w) => ({ ...w }));
    const firstNs = ns(tally.firstSec, tally.firstNsec);
    if (c.packets > 0 && firstNs < o.prevLast) {
      warnings.push({ offset: -1, message: `its packets begin before the end of ${shown(o.prevPath)}, read before it: the files overlap in time (captures from different capture points? use --separate)` });
    }
    if (c.packets > 0) {
      o.prevLast = Math.max(o.prevLast, ns(tally.lastSec, tally.lastNsec));
      o.prevPath = x.p.path;
    }
    warnings.push(...tallyWarnings(tally));
    for (const w of warnings) opts.warn(`exflow: warning: ${shown(x.p.path)}${w.offset >= 0 ? `: byte ${w.offset}` : ''}: ${w.message}`, warningKind(w.message));
    const seconds = writeCaptureRow(captures, x, tally, { result: r, status: r.status, warnings, sha });
    outcomes.push({ path: x.p.path, status: r.status, packets: c.packets, flows: 0, warnings: warnings.length, seconds });
  };

  const mostFlows = toRead.reduce((a, p) => a + p.mostFlows, 0);
  const setup = { rpc: opts.rpc !== false, maxFlows: opts.maxFlows, mostFlows: Number.isFinite(mostFlows) ? mostFlows : undefined, idleTimeout: opts.idleTimeout };
  // A file read after the records an earlier run read is read by this thread (the workers read whole files).
  const resuming = toRead.some((p) => p.resume);
  const threads = groups.length > 0 ? threadsFor(opts.threads, live || resuming, totalBytes) : 1;
  if (threads > 1) {
    // Regular files only (a stream cannot be read once per thread): every worker reads them all.
    const readings: Reading[][] = groups.map(() => []);
    let ends: Promise<void> = Promise.resolve();
    // The workers' counts come every 100 ms; when every worker has read a file, the run is at
    // least that file's end (the bar reaches 100% before "writing flows", not the last poll's 92%).
    let readThrough = 0;
    let last = { packets: 0, flows: 0 };
    let offset = 0;
    const endOf = groups.map((g) => g.map((p) => (offset += p.size)));
    const r = await readThreaded(rules, setup, groups.map((g) => g.map((p) => p.path)), threads, {
      begin: (s, k) => {
        readings[s][k] = begin(s, k);
      },
      flows: take,
      end: (s, k, o) => {
        const x = readings[s][k];
        if (o.result?.stopped) return; // a signal: the run is interrupted, nothing of it is shown
        readThrough = Math.max(readThrough, endOf[s][k]);
        opts.progress.update(readThrough, last.packets, last.flows);
        // In order, after a --sha256 hash of the file (on the hashing thread) is done.
        ends = ends.then(async () => {
          if (o.error !== undefined) return failed(x, o.error, o.tally);
          finished(x, o.result!, o.tally, (await x.hashing) ?? null);
        });
        if (k === groups[s].length - 1) opts.progress.phase('writing flows');
      },
      streamEnd: () => {},
    }, {
      shouldStop: opts.shouldStop,
      progress: {
        update: (bytes, packets, flows) => {
          last = { packets, flows };
          opts.progress.update(Math.max(bytes, readThrough), packets, flows);
        },
      },
    });
    await ends;
    if (r.stopped) interrupted = true;
  } else {
    // One thread: this one reads, with every flow in one table (creating one costs ~140 ms:
    // streams of --separate follow each other, each flushed whole before the next).
    const reader = new StreamReader(rules, { ...setup, share: { index: 0, count: 1 } }, take);
    for (let s = 0; s < groups.length; s++) {
      const group = groups[s];
      if (interrupted) break;
      for (let k = 0; k < group.length; k++) {
        const p = group[k];
        if (opts.shouldStop()) {
          interrupted = true;
          break;
        }
        reader.beginCapture(k);
        const x = begin(s, k);
        const ingest = reader.ingest;
        const inlineHash = opts.sha256 && p.stream ? crypto.createHash('sha256') : null;
        const streamPrint = p.stream ? new StreamFingerprint() : null;
        const tee = p.stream ? new HeadTee(ingest) : null;
        const skipper = p.resume ? new SkipFirst(ingest, p.resume.after.records) : null;
        let duplicateOf: string | null = null;
        let nextCommit = Date.now() + opts.flushInterval * 1000;
        // When the stream's last packet came (by the wall clock, seen at each progress report: no clock read per packet).
        let packetsSeen = 0;
        let activeAt = Date.now();
        let r: CaptureReadResult;
        try {
          r = await reader.read(p.path, {
            onInput: streamPrint
              ? (c) => {
                  streamPrint.update(c);
                  inlineHash?.update(c);
                }
              : undefined,
            onProgress: (bytes) => {
              opts.progress.update(bytesBefore + bytes, ingest.counters.packets, reader.table.stats.flowsCreated);
              if (tee && duplicateOf === null && tee.head.done && !opts.force) {
                const d = tee.head.digest();
                const twin = d ? captures.findByHead(d)[0] : undefined;
                duplicateOf = twin ? `capture ${twin.id} (${shown(twin.path)})` : '';
              }
              if (ingest.counters.packets !== packetsSeen) {
                packetsSeen = ingest.counters.packets;
                activeAt = Date.now();
              }
              if (p.stream && Date.now() >= nextCommit) {
                // Live: flows that ended since the last commit become visible now, however quiet the input.
                nextCommit = Date.now() + opts.flushInterval * 1000;
                reader.settleLive((Date.now() - activeAt) / 1000);
                reader.drain();
                writeCaptureRow(captures, x, reader.tally(), { result: null, status: 'running', warnings: [], sha: null });
                settle(false);
                opts.progress.phase(null);
              }
            },
            shouldStop: () => opts.shouldStop() || (duplicateOf !== null && duplicateOf !== ''),
            stream: p.path === opts.live?.path ? opts.live.stream : undefined,
          }, tee ?? skipper ?? ingest);
        } catch (e) {
          if (sqliteFault(e) !== null) {
            await x.hashing;
            throw e; // the database's fault, not this capture's
          }
          await failed(x, e instanceof CaptureOpenError ? e.reason : describeFsError(e), reader.tally());
          continue;
        }
        if (duplicateOf) {
          // Standard input carrying packets already analyzed: nothing of it is kept.
          reader.discard();
          writer.discard();
          names.discard();
          runs.removeData(runId, `standard input repeated ${duplicateOf}`, null);
          skip(p.path, `the same packets as ${duplicateOf}; skipped (use --force to analyze them again)`);
          skipped = true;
          break;
        }
        if (r.stopped && !p.stream) {
          await x.hashing;
          interrupted = true;
          break;
        }
        reader.drain();
        const sha = inlineHash ? inlineHash.digest('hex') : ((await x.hashing) ?? null);
        // A stream's fingerprint, like a file's: its size and its first and last MiB.
        if (p.stream) captures.identify(x.captureId, streamPrint!.size, streamPrint!.digest(), tee!.head.digest());
        finished(x, r, reader.tally(), sha);
        if (r.stopped) break; // live input stopped by a signal: what was read is kept
      }
      if (interrupted || skipped) break;
      opts.progress.phase('writing flows');
      reader.endStream();
    }
  }

  const stopped = () => {
    writer.flush();
    runs.finish(runId, 'interrupted', 'stopped by a signal; nothing of this run is shown; run the same command again to analyze it');
    opts.progress.stop();
    return { runId, status: 'interrupted' as const, captures: outcomes, flows: 0, reordered, threads };
  };
  if (interrupted) return stopped();
  settle(true);
  // The settling above is one synchronous transaction: a signal that came during it (writing
  // flows, judging) is handled only now. A file run stops before it becomes visible; a live
  // run keeps what it read, as a signal at any other time keeps it.
  await new Promise((r) => setImmediate(r));
  if (!live && opts.shouldStop()) return stopped();
  runs.finish(runId, 'complete');
  if (opts.redactAccount) db.pragma('wal_checkpoint(TRUNCATE)');
  opts.progress.stop();
  const flows = db.prepare('SELECT count(*) FROM flows WHERE capture_id IN (SELECT id FROM captures WHERE run_id = ?)').pluck().get(runId) as number;
  const perCapture = new Map((db.prepare('SELECT path, flows FROM captures WHERE run_id = ?').raw().all(runId) as [string, number][]));
  for (const o of outcomes) if (o.status === 'ok' || o.status === 'truncated') o.flows = perCapture.get(o.path) ?? 0;
  // Every input was already analyzed (skipped as a duplicate): the run added nothing, and `exflow runs` does not list it.
  const stored = db.prepare('SELECT count(*) FROM captures WHERE run_id = ?').pluck().get(runId) as number;
  if (stored === 0 && outcomes.length > 0 && outcomes.every((o) => o.status === 'skipped')) db.prepare('DELETE FROM runs WHERE id = ?').run(runId);
  return { runId, status: 'complete', captures: outcomes, flows, reordered, threads };
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
  return null;
}

/** The earlier capture a file begins with (its first `after.records` records). */
interface Resume {
  id: number;
  runId: number;
  path: string;
  after: RecordsSeen;
}

/**
 * An earlier capture whose records this file begins with. A file with the same first
 * records and no more is that capture ("already analyzed"); one with more extends it (a
 * ring file still being written, read again; captures appended) and is read after them.
 * The first records' digest matched; their count, wire bytes and last time are checked by
 * walking them (without decoding), so a file that merely starts alike is read whole.
 */
async function readBefore(captures: CaptureStore, p: Prepared): Promise<Resume | { id: number; runId: number; why: string } | null> {
  if (!p.headDigest) return null;
  for (const twin of captures.findReadings(p.headDigest)) {
    const first = await firstRecords(p.path, twin.records);
    if (!samePrefix(first, twin)) continue;
    if (!first.more) return { id: twin.id, runId: twin.run_id, why: `the same ${twin.records} records as ${shown(twin.path)}, perhaps in another format` };
    return { id: twin.id, runId: twin.run_id, path: twin.path, after: twin };
  }
  return null;
}

/** A capture being read: where it came from and the row it is written to. */
interface Reading {
  p: Prepared;
  /** Its stream (index into the run's groups). */
  s: number;
  captureId: number;
  started: bigint;
  /** Its SHA-256 on the hashing thread (--sha256, regular files). */
  hashing: Promise<string | null> | null;
}


/** The warnings a capture's counts call for. */
function tallyWarnings(t: CaptureTally): { offset: number; message: string }[] {
  const out: { offset: number; message: string }[] = [];
  const c = t.counters;
  const forced = t.stats.forcedFlushes;
  const cut = t.stats.snapCutFlows;
  if (cut > 0) out.push({ offset: -1, message: `the snaplen cut the payload of ${cut} flow${cut === 1 ? '' : 's'}: what lay beyond it could not be inspected (their rpc_note says "cut by the snaplen"; such flows are named by port or by what was left, and a flow whose RPC interface could not be read is judged unknown)` });
  if (c.unattributedFragments > 0) out.push({ offset: -1, message: `${c.unattributedFragments} IP fragments arrived without their first fragment; counted in the capture, not in any flow` });
  if (forced > 0) out.push({ offset: -1, message: `flow table full: ${forced} active flows written out early (raise --max-flows); such a flow may appear as two rows` });
  const early = t.stats.doneEarly;
  if (early > 0) out.push({ offset: -1, message: `${early} ended flow${early === 1 ? '' : 's'} (closed TCP, answered UDP exchanges) written out before ${early === 1 ? 'its' : 'their'} linger or idle time ended, to hold memory (more ended at once than --max-flows / 8 could keep); a late packet of one appears as a flow of its own` });
  if (t.refusals > 0) out.push({ offset: -1, message: `payload memory bound (${(t.budgetLimit / 1048576).toFixed(0)} MiB for DCE/RPC reassembly, mapper answers and TLS handshakes) reached ${t.refusals} times; what did not fit was not kept (the flows' rpc_note says so for RPC)` });
  if (t.factFaults > 0) out.push({ offset: -1, message: `the payload facts of ${t.factFaults} flow${t.factFaults === 1 ? '' : 's'} could not be read; kept with what their ports say (first: ${t.firstFactFault})` });
  if (t.tooDeep > 0) out.push({ offset: -1, message: `${t.tooDeep} packets inside more than 4 nested tunnels; counted as other IP, not followed` });
  if (t.tooManyExtensions > 0) out.push({ offset: -1, message: `${t.tooManyExtensions} IPv6 packets with more than 8 extension headers; counted as other IP, transport not reached` });
  if (c.emptyRecords > 0) out.push({ offset: -1, message: `${c.emptyRecords} records hold no captured bytes (counted as packets, nothing to decode)` });
  if (c.unknownLinkPackets > 0) out.push({ offset: -1, message: `${c.unknownLinkPackets} packets on link types exflow does not decode (${t.unknownLinkTypes.map(linkTypeName).join(', ')})` });
  return out;
}

function writeCaptureRow(
  captures: CaptureStore,
  { captureId: id, started, p }: Reading,
  t: CaptureTally,
  { result: r, status, warnings, sha }: {
    result: CaptureReadResult | null;
    status: 'ok' | 'truncated' | 'failed' | 'running';
    warnings: { offset: number; message: string }[];
    sha: string | null;
  },
): number {
  const c = t.counters;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  captures.finish(id, {
    format: r ? r.format + (r.compressed ? '+gzip' : '') : 'unknown',
    compressed: r?.compressed ?? false,
    linkTypes: r ? r.linkTypes.map(linkTypeName) : [],
    packets: c.packets,
    bytes: c.bytes,
    firstSec: c.packets ? t.firstSec : null,
    firstNsec: c.packets ? t.firstNsec : null,
    lastSec: c.packets ? t.lastSec : null,
    lastNsec: c.packets ? t.lastNsec : null,
    status,
    warnings,
    flows: 0,
    // rpcNonIpTowers is set when the run settles: a flow that began here may end in a later capture.
    counters: { ...c, ...t.stats, rpcNonIpTowers: 0, ...(p.resume ? { recordsSkipped: p.resume.after.records, bytesSkipped: p.resume.after.bytes } : {}) },
    sha256: sha,
    seconds,
  });
  return seconds;
}

export { THREADS_FROM_BYTES, MAX_THREADS, defaultThreads, threadsFor } from './thread-policy';
