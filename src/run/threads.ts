// The reading threads of a run (analyze --threads N), seen from the thread that owns
// the database. Each worker (src/run/worker.ts) reads every capture and keeps one
// share of the flows — a flow's share is a symmetric hash of its 5-tuple, so both
// directions meet — with its own flow table and inspectors. This thread takes their
// batches of flows as they come, and a capture's outcome once every worker has read it.
//
// Why every worker reads every file rather than one thread reading and handing out
// packets: from the page cache, reading and walking a 1.9 GB capture costs one thread
// 0.3 s, less than copying its packets across threads would (the bench's mix).
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { CaptureReadResult } from '../capture/reader';
import { plainRules, type RuleSet } from '../rules/load';
import { mergeTallies, type CaptureTally, type FlowBatch, type StreamSetup } from './stream';
import type { WorkerInput } from './worker';

/**
 * The worker's script: compiled JavaScript beside this file — or, when this file runs
 * as TypeScript (the test suite), the build's (npm test builds first).
 */
const WORKER_SCRIPT = __filename.endsWith('.ts') ? path.resolve(__dirname, '..', '..', 'dist', 'run', 'worker.js') : path.join(__dirname, 'worker.js');

export type WorkerMessage =
  | { type: 'begin'; stream: number; position: number }
  | { type: 'flows'; batch: FlowBatch }
  | { type: 'end'; stream: number; position: number; result?: CaptureReadResult; error?: string; tally: CaptureTally }
  | { type: 'stream-end'; stream: number }
  | { type: 'done'; stopped: boolean }
  | { type: 'fault'; message: string };

/** What the owning thread does with what the workers found. */
export interface ThreadedEvents {
  /** Capture `position` of stream `stream` is being read (the first worker to begin it). */
  begin(stream: number, position: number): void;
  flows(batch: FlowBatch): void;
  /** Every worker has read the capture: its result (or the error that stopped it) and the counts of all shares. */
  end(stream: number, position: number, outcome: { result?: CaptureReadResult; error?: string; tally: CaptureTally }): void;
  /** Every worker has written out the stream's open flows. */
  streamEnd(stream: number): void;
}

export interface ThreadedProgress {
  /** Bytes and packets of the run read so far, flows made so far. */
  update(bytes: number, packets: number, flows: number): void;
}

/**
 * Reads the streams with `threads` workers. Resolves when all are done; `stopped`
 * when a stop request (asked every 100 ms) ended reading early.
 */
export async function readThreaded(
  rules: RuleSet,
  setup: Omit<StreamSetup, 'share'>,
  streams: string[][],
  threads: number,
  events: ThreadedEvents,
  o: { shouldStop: () => boolean; progress?: ThreadedProgress },
): Promise<{ stopped: boolean }> {
  const control = new Int32Array(new SharedArrayBuffer(4 * (1 + threads)));
  const progress = new Float64Array(new SharedArrayBuffer(8 * 3 * threads));
  const plain = plainRules(rules);
  const workers: Worker[] = [];
  const begun = new Set<string>();
  const ended = new Map<string, { outcomes: { result?: CaptureReadResult; error?: string; tally: CaptureTally }[]; count: number }>();
  const streamEnds = new Map<number, number>();
  let stopped = false;
  let fault: Error | null = null;

  const done = new Promise<void>((resolve) => {
    let running = threads;
    const finished = () => {
      if (--running === 0) resolve();
    };
    for (let index = 0; index < threads; index++) {
      const input: WorkerInput = { rules: plain, setup: { ...setup, share: { index, count: threads } }, streams, control: control.buffer as SharedArrayBuffer, progress: progress.buffer as SharedArrayBuffer };
      // A small young generation: a worker's garbage is per-flow and short-lived, and V8's
      // default let each worker's heap grow to ~30 MB more (mix, --threads 2: peak RSS
      // 231–265 MB with it, 195–199 MB without, no slower — 3 alternated rounds).
      const w = new Worker(WORKER_SCRIPT, { workerData: input, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
      workers.push(w);
      let over = false;
      const finish = () => {
        if (over) return;
        over = true;
        finished();
      };
      w.on('message', (m: WorkerMessage) => {
        if (fault) return;
        try {
          take(index, m, finish);
        } catch (e) {
          // The owning thread's own failure (the database): every worker stops, and the run fails with it.
          fault = e as Error;
          Atomics.store(control, 0, 1);
          for (const x of workers) void x.terminate();
          resolve();
        }
      });
      w.on('error', (e) => {
        fault ??= new Error(`a reading thread failed: ${e.message}`);
        Atomics.store(control, 0, 1);
        finish();
      });
      w.on('exit', (code) => {
        if (!over) fault ??= new Error(`a reading thread ended before its work was done (exit code ${code})`);
        finish();
      });
    }
  });

  const take = (index: number, m: WorkerMessage, finish: () => void) => {
    switch (m.type) {
      case 'begin': {
        const key = `${m.stream}/${m.position}`;
        if (!begun.has(key)) {
          begun.add(key);
          events.begin(m.stream, m.position);
        }
        return;
      }
      case 'flows':
        // A stop asked for (Ctrl-C): the run will be interrupted and show nothing, so the
        // batches still queued are not written — the workers are told at once.
        if (o.shouldStop()) Atomics.store(control, 0, 1);
        else events.flows(m.batch);
        Atomics.add(control, 1 + index, 1);
        Atomics.notify(control, 1 + index);
        return;
      case 'end': {
        const key = `${m.stream}/${m.position}`;
        const e = ended.get(key) ?? { outcomes: new Array(threads), count: 0 };
        e.outcomes[index] = { result: m.result, error: m.error, tally: m.tally };
        e.count++;
        ended.set(key, e);
        if (e.count === threads) {
          ended.delete(key);
          // Every worker read the same bytes: the first one's result stands for all; the counts are added up.
          const first = e.outcomes[0];
          events.end(m.stream, m.position, { result: first.result, error: first.error, tally: mergeTallies(e.outcomes.map((x) => x.tally)) });
        }
        return;
      }
      case 'stream-end': {
        const n = (streamEnds.get(m.stream) ?? 0) + 1;
        streamEnds.set(m.stream, n);
        if (n === threads) events.streamEnd(m.stream);
        return;
      }
      case 'done':
        if (m.stopped) stopped = true;
        finish();
        return;
      case 'fault':
        fault ??= new Error(`a reading thread failed: ${m.message}`);
        Atomics.store(control, 0, 1);
        finish();
        return;
    }
  };

  const watch = setInterval(() => {
    if (o.shouldStop()) Atomics.store(control, 0, 1);
    if (o.progress) {
      // The slowest worker says how far the run is; the flows are every worker's share added up.
      let bytes = Infinity;
      let packets = 0;
      let flows = 0;
      for (let i = 0; i < threads; i++) {
        bytes = Math.min(bytes, progress[i * 3]);
        packets = i === 0 ? progress[1] : Math.min(packets, progress[i * 3 + 1]);
        flows += progress[i * 3 + 2];
      }
      o.progress.update(bytes, packets, flows);
    }
  }, 100);
  try {
    await done;
  } finally {
    clearInterval(watch);
    await Promise.all(workers.map((w) => w.terminate()));
  }
  if (fault) throw fault;
  // A stop asked for while the last batches were being written stops the run too, as it
  // would have stopped one thread that was still reading.
  return { stopped: stopped || Atomics.load(control, 0) !== 0 || o.shouldStop() };
}
