// exflow ship: a sensor's finished runs into a ClickHouse engine (src/store/clickhouse/ship.ts
// says how each run arrives once and whole). This module joins the database, the target, the
// threads that read and encode the flows, and the progress; the CLI parses and prints.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Db } from '../store/db';
import { ClickHouse, ClickHouseError } from '../store/clickhouse/http';
import { shipRuns, ShipValueError, sliceReader, type ShipOptions, type ShipOutcome, type SliceQuery, type SliceRead, type SliceReader } from '../store/clickhouse/ship';
import { parseTarget, TargetError } from '../store/clickhouse/target';
import { processAlive } from '../store/runs';

/** A ship that could not be done: the engine (down, refusing, another version's tables), the target, or a value. One line. */
export class ShipError extends Error {}

const WORKER_SCRIPT = __filename.endsWith('.ts') ? path.resolve(__dirname, '..', '..', 'dist', 'run', 'ship-worker.js') : path.join(__dirname, 'ship-worker.js');

export interface ShipThreadInput {
  dbPath: string;
}
export interface ShipSliceAsk {
  ask: number;
  query: SliceQuery;
  from: number;
  to: number;
}
export type ShipSliceAnswer = { ask: number; rows: number; bytes: ArrayBuffer; length: number } | { ask: number; failed: string; value: boolean };

/** A thread's heap: a slice is ~1.5 MB, a few are made ahead. */
const THREAD_OLD_MB = 32;
const THREAD_YOUNG_MB = 4;

/**
 * Threads that read and encode slices of flows, each from its own read-only connection; slices
 * are handed out in turn. Reading 65 columns costs ~6.5 µs a flow in better-sqlite3 — more than
 * ClickHouse spends taking it — so on two cores the reading is what a thread takes off the one
 * that sends.
 */
class SliceThreads {
  private readonly workers: Worker[];
  private readonly waiting = new Map<number, { query: SliceQuery; from: number; to: number; worker: Worker; resolve: (r: SliceRead) => void; reject: (e: Error) => void }>();
  /** Which thread made a slice's buffer: it is given back to it once sent. */
  private readonly madeBy = new WeakMap<ArrayBuffer, Worker>();
  private asks = 0;
  /** Set once a thread failed (out of its heap, say): every slice is then read here. */
  private broken = false;
  private closing = false;
  private ended: Promise<number>[] = [];

  constructor(
    private readonly db: Db,
    dbPath: string,
    threads: number,
    oldMb = THREAD_OLD_MB,
  ) {
    this.workers = Array.from({ length: threads }, () => {
      const w = new Worker(WORKER_SCRIPT, { workerData: { dbPath } satisfies ShipThreadInput, resourceLimits: { maxOldGenerationSizeMb: oldMb, maxYoungGenerationSizeMb: THREAD_YOUNG_MB } });
      w.on('message', (m: ShipSliceAnswer) => this.answer(m));
      w.on('error', () => this.fallBack());
      w.on('exit', () => this.closing || this.fallBack());
      return w;
    });
  }

  reader(query: SliceQuery): SliceReader {
    // This thread's own reader of the run, made only should a thread fail.
    let mine: SliceReader | null = null;
    const here = () => (mine ??= sliceReader(this.db, query));
    return {
      read: (from, to) =>
        this.broken
          ? here().read(from, to)
          : new Promise((resolve, reject) => {
              const ask = this.asks++;
              const worker = this.workers[ask % this.workers.length];
              this.waiting.set(ask, { query, from, to, worker, resolve, reject });
              worker.postMessage({ ask, query, from, to } satisfies ShipSliceAsk);
            }),
      release: (slice) => {
        const ab = slice.bytes.buffer as ArrayBuffer;
        const w = this.madeBy.get(ab);
        if (w === undefined) return here().release(slice);
        this.madeBy.delete(ab);
        if (!this.broken) w.postMessage({ give: ab }, [ab]);
      },
      close: () => {},
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.broken) {
      await Promise.all(this.ended);
      return;
    }
    await Promise.all(this.workers.map((w) => new Promise<void>((r) => (w.once('exit', () => r()), w.postMessage('stop')))));
  }

  private answer(m: ShipSliceAnswer): void {
    const w = this.waiting.get(m.ask);
    if (w === undefined) return;
    this.waiting.delete(m.ask);
    if ('failed' in m) w.reject(m.value ? new ShipValueError(m.failed) : new Error(m.failed));
    else {
      this.madeBy.set(m.bytes, w.worker);
      w.resolve({ rows: m.rows, bytes: Buffer.from(m.bytes, 0, m.length) });
    }
  }

  /** A thread failed: what it and the others were asked is read here, and all that follows. */
  private fallBack(): void {
    if (this.broken) return;
    this.broken = true;
    this.ended = this.workers.map((w) => w.terminate());
    const asked = [...this.waiting.values()];
    this.waiting.clear();
    for (const a of asked) sliceReader(this.db, a.query).read(a.from, a.to).then(a.resolve, a.reject);
  }
}

export interface ShipJob extends ShipOptions {
  /** Threads that read and encode (0: none, the sending thread reads). */
  threads?: number;
  /** A thread's old generation in MB (THREAD_OLD_MB; a test makes it too small to read a slice). */
  threadOldMb?: number;
}

/**
 * Holds DB.ship-lock while a ship of DB runs: two ships of one database at once (a cron job that
 * overlaps the one before) would both send a run that is not there yet. A lock whose process is
 * gone is taken over. Where the lock cannot be made (the database's folder is read-only: a ship
 * only reads), the ship goes on without one.
 */
function takeShipLock(dbPath: string): () => void {
  const lock = `${dbPath}.ship-lock`;
  for (let tries = 0; tries < 3; tries++) {
    try {
      fs.writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      return () => fs.rmSync(lock, { force: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') return () => {};
      const pid = Number(fs.readFileSync(lock, 'utf8').trim());
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) throw new ShipError(`${dbPath}: another exflow ship (process ${pid}) is sending this database; wait for it to end (or remove ${lock} if that process is not exflow)`);
      fs.rmSync(lock, { force: true });
    }
  }
  throw new ShipError(`${dbPath}: cannot take ${lock}`);
}

export async function shipDatabase(db: Db, dbPath: string, to: string | readonly string[], o: ShipJob = {}): Promise<ShipOutcome> {
  let shards: ClickHouse[];
  try {
    shards = (typeof to === 'string' ? [to] : to).map((t) => new ClickHouse(parseTarget(t)));
  } catch (e) {
    if (e instanceof TargetError) throw new ShipError(e.message);
    throw e;
  }
  const unlock = takeShipLock(dbPath);
  const threads = o.threads ? new SliceThreads(db, dbPath, o.threads, o.threadOldMb) : null;
  try {
    return await shipRuns(db, shards, threads ? { ...o, slices: (q) => threads.reader(q) } : o);
  } catch (e) {
    if (e instanceof ClickHouseError || e instanceof ShipValueError) throw new ShipError(e.message);
    throw e;
  } finally {
    for (const ch of shards) ch.close();
    await threads?.close();
    unlock();
  }
}
