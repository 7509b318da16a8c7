// exflow export on several threads. One thread makes an ECS document of a flow in about 20 µs
// (reading its row 6.6, the document and its JSON 9.4, UTF-8 1.6: ~50k flows a second); the
// export is the same lines in the same order written by threads that each read every
// `threads`-th run of PART_IDS flow ids in a read transaction of their own, while this thread
// writes the parts in order. The threads must see the database as this thread does: each says
// what it sees (exportFingerprint) before any line is written, and any difference, or a thread
// that fails, leaves the rest to this thread alone — the output is always the one-thread export's.
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { exportHeader, exportLines, type ExportFormat } from '../report/export';
import { addressedFlows } from '../report/flows';
import { spreadFar } from '../store/flow-ids';
import type { FlowFilter } from '../report/filter';
import { plainRules, type PlainRules, type RuleSet } from '../rules/load';
import type { Db } from '../store/db';

/** Flow ids a part spans: ~4,000 documents, about 6 MB of lines — a thread holds at most AHEAD of them. */
export const PART_IDS = 4096;
/** Parts a thread may have made that are not written yet. */
const AHEAD = 2;
/** Fewer flow ids than this are exported by this thread alone: starting threads costs more (~0.2 s). */
export const PARALLEL_FROM = 100_000;
/** Lines a one-thread export writes between two turns of the event loop (to hear signals). */
const LINES_AT_A_TIME = 2000;
/**
 * Threads by default: one per core, at most three — each holds ~25 MB more at its peak, and at the
 * bench's million flows three reached 238 MB of the 256 MB budget, four 283 MB (on two cores, two
 * took 10.4 s, three 11.4, four 11.1).
 */
export const defaultExportThreads = (): number => Math.max(1, Math.min(3, os.availableParallelism()));

/** A thread's young generation: its garbage is a document's (16 MB was no faster than 8, 15 MB more RSS at two threads; 48 MB 30 MB more). */
const YOUNG_MB = 8;
/**
 * A thread's old generation, at most. Uncapped, V8 let each thread's fill with promoted garbage
 * for as long as the export ran: two threads over ten million flows reached a peak RSS of 290 MB
 * (from 205 MB at one million); capped at 64 MB, 229-237 MB, no slower. What a thread holds for
 * good (the hosts and verdicts it judges by, a part's lines) is far less; a thread that needs more
 * than this fails, and this thread writes the rest alone (the one-thread export's output).
 */
export const THREAD_OLD_MB = 64;

const WORKER_SCRIPT = __filename.endsWith('.ts') ? path.resolve(__dirname, '..', '..', 'dist', 'run', 'export-worker.js') : path.join(__dirname, 'export-worker.js');

export interface ExportThreadInput {
  dbPath: string;
  rules: PlainRules;
  filter: FlowFilter;
  format: ExportFormat;
  bulkIndex: string;
  /** This thread's place among `threads`: it makes parts index, index + threads, … */
  index: number;
  threads: number;
  firstId: number;
  partIds: number;
  parts: number;
}

/** A part's buffers: its lines as UTF-8, and the offset each line ends at (Int32). */
export interface ExportBuffers {
  bytes: ArrayBuffer;
  ends: ArrayBuffer;
}

/**
 * A part's lines travel encoded, their memory handed over (no copy, and no strings for the
 * writing thread's collector); the buffers go back with the next credit, to be filled again.
 */
export type ExportThreadMessage = { kind: 'ready'; fingerprint: string } | ({ kind: 'part'; part: number; length: number; count: number } & ExportBuffers) | { kind: 'failed'; message: string };
/** To a thread: make one more part (into these buffers, when given), or stop. */
export type ExportCredit = 'part' | 'stop' | ExportBuffers;

/**
 * What an export's lines depend on besides the flows: which runs are visible and how, the
 * verdicts and the hosts' roles, names and versions (an audit rewrites them). Flows written
 * meanwhile have ids after the export's last and are not in it.
 */
export function exportFingerprint(db: Db): string {
  return JSON.stringify(
    db
      .prepare(
        `SELECT (SELECT group_concat(id || ':' || status || ':' || coalesce(finished_at, '') || ':' || captures, ',') FROM runs) AS runs,
                (SELECT count(*) || ':' || coalesce(max(id), 0) || ':' || total(length(reason)) || ':' || total(length(rule)) FROM verdicts) AS verdicts,
                (SELECT count(*) || ':' || total(length(roles)) || ':' || total(length(name)) || ':' || total(length(version)) FROM hosts) AS hosts,
                (SELECT count(*) FROM captures) AS captures`,
      )
      .get(),
  );
}

export interface ExportJob {
  db: Db;
  /** The database's file, which each thread opens read-only. */
  dbPath: string;
  rules: RuleSet;
  filter: FlowFilter;
  format: ExportFormat;
  bulkIndex: string;
  threads: number;
  /** Flow ids a part spans, and the fewest ids worth threads (tests make them small). */
  partIds?: number;
  parallelFrom?: number;
  /** A thread's old generation in MB (THREAD_OLD_MB; a test makes it too small to hold a part). */
  threadOldMb?: number;
}

/** Where the lines go: one line as text, or many already encoded (UTF-8) with where each ends. */
export interface ExportSink {
  line(s: string): void;
  encoded(bytes: Uint8Array, ends: Int32Array): void;
  /** Whether to stop (a signal): asked between lines now and then. */
  stopped(): boolean;
}

/**
 * Writes the export's lines, in the order exportLines gives them, read in one read transaction
 * of `db` (which the threads' views are checked against). Returns false when `sink` said stop.
 */
export async function writeExport(job: ExportJob, sink: ExportSink): Promise<boolean> {
  const { db } = job;
  const own = !db.inTransaction;
  if (own) db.exec('BEGIN');
  try {
    const span = db.prepare('SELECT min(id) AS first, max(id) AS last FROM flows').get() as { first: number | null; last: number | null };
    const parallelFrom = job.parallelFrom ?? PARALLEL_FROM;
    if (job.threads < 2 || span.first === null || span.last! - span.first + 1 < parallelFrom || fewThroughIndex(db, job.filter, parallelFrom) || sparseIds(db, span.last! - span.first + 1)) return await alone(job, sink, {});
    const firstId = span.first;
    const partIds = job.partIds ?? PART_IDS;
    const parts = Math.ceil((span.last! - firstId + 1) / partIds);
    const header = exportHeader(job.format);
    if (header !== null) sink.line(header);
    const written = await threaded(job, sink, firstId, partIds, parts);
    if (written === 'stopped') return false;
    // A thread saw another database or failed: this thread writes what is not written yet.
    if (written < parts) return await alone(job, sink, { ids: { from: firstId + written * partIds, to: span.last! + 1 }, header: false });
    return true;
  } finally {
    if (own && db.inTransaction) db.exec('COMMIT');
  }
}

/**
 * Whether the filter's flows are few by what an index counts: at most `most` with one of its
 * exact addresses on a side, or with a protection finding. Those are read through the index by
 * this thread alone; parts of ids, read by threads, each scan their range (ten million flows, a
 * host of 3,510: 1.0 s alone, 5.0 s in parts) — which pays where a host has many.
 */
function fewThroughIndex(db: Db, f: FlowFilter, most: number): boolean {
  if (addressedFlows(db, f, most) <= most) return true;
  return f.finding !== undefined && (db.prepare(`SELECT count(*) FROM (SELECT 1 FROM flows WHERE protection IS NOT NULL LIMIT ${most + 1})`).pluck().get() as number) <= most;
}

/** Whether the flows' ids spread far wider than the flows (a hostile database): parts of ids would be mostly empty, billions of them. */
function sparseIds(db: Db, span: number): boolean {
  return spreadFar(span, db.prepare('SELECT count(*) FROM flows').pluck().get() as number);
}

/** Lines from this thread alone, each written as it is made (held, a million lines cost the collector 6 s more). */
async function alone(job: ExportJob, sink: ExportSink, part: { ids?: { from: number; to: number }; header?: boolean }): Promise<boolean> {
  let n = 0;
  for (const line of exportLines(job.db, job.rules, job.filter, job.format, job.bulkIndex, part)) {
    sink.line(line);
    if (++n % LINES_AT_A_TIME === 0) {
      await new Promise((r) => setImmediate(r));
      if (sink.stopped()) return false;
    }
  }
  return true;
}

/** Parts from the threads, written in order; returns how many were (all, or those before a thread failed or disagreed), or 'stopped'. */
async function threaded(job: ExportJob, sink: ExportSink, firstId: number, partIds: number, parts: number): Promise<number | 'stopped'> {
  const threads = Math.min(job.threads, parts);
  const events: { from: number; m: ExportThreadMessage | { kind: 'exit' } }[] = [];
  let wake: (() => void) | null = null;
  const push = (from: number, m: ExportThreadMessage | { kind: 'exit' }) => {
    events.push({ from, m });
    wake?.();
  };
  const next = async () => {
    while (events.length === 0) await new Promise<void>((r) => (wake = r));
    wake = null;
    return events.shift()!;
  };
  const rules = plainRules(job.rules);
  const workers = Array.from({ length: threads }, (_, index) => {
    const input: ExportThreadInput = { dbPath: job.dbPath, rules, filter: job.filter, format: job.format, bulkIndex: job.bulkIndex, index, threads, firstId, partIds, parts };
    const w = new Worker(WORKER_SCRIPT, { workerData: input, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_MB, maxOldGenerationSizeMb: job.threadOldMb ?? THREAD_OLD_MB } });
    w.on('message', (m: ExportThreadMessage) => push(index, m));
    w.on('error', (e) => push(index, { kind: 'failed', message: e.message }));
    w.on('exit', () => push(index, { kind: 'exit' }));
    return w;
  });
  let handed = 0;
  try {
    const mine = exportFingerprint(job.db);
    for (let ready = 0; ready < threads; ) {
      const { m } = await next();
      if (m.kind !== 'ready' || m.fingerprint !== mine) return 0;
      ready++;
    }
    for (const w of workers) for (let i = 0; i < AHEAD; i++) w.postMessage('part');
    const made = new Map<number, Extract<ExportThreadMessage, { kind: 'part' }>>();
    // A thread that ends having made all its parts is done; one that ends owing parts failed.
    const owed = Array.from({ length: threads }, (_, i) => Math.ceil((parts - i) / threads));
    while (handed < parts) {
      const part = made.get(handed);
      if (part !== undefined) {
        made.delete(handed);
        sink.encoded(new Uint8Array(part.bytes, 0, part.length), new Int32Array(part.ends, 0, part.count));
        const back: ExportBuffers = { bytes: part.bytes, ends: part.ends };
        workers[handed % threads].postMessage(back, [back.bytes, back.ends]);
        handed++;
        if (sink.stopped()) return 'stopped';
        continue;
      }
      const { from, m } = await next();
      if (m.kind === 'part') {
        made.set(m.part, m);
        owed[from]--;
      } else if (m.kind !== 'exit' || owed[from] > 0) return handed; // failed, or ended before its parts were made
    }
    return handed;
  } finally {
    for (const w of workers) {
      w.postMessage('stop');
      void w.terminate();
    }
  }
}
