// How many threads read a run: small and free of the reader's modules, so the command line
// can name the threshold in its help without loading the analyzer.
import * as os from 'node:os';

/**
 * How many threads read a run: one for standard input and other streams; else --threads;
 * else one per core but one (that core writes the database, which no thread can share),
 * for runs large enough to repay starting them — so one on a machine of two cores.
 * Measured there (npm run bench, 3 rounds, medians), --threads 2 is slower than one on
 * every workload (org-mix 3.12 s against 2.43 s): each thread reads and decodes every
 * packet (0.64 s of the mix in a thread of its own), and the database is written by
 * one thread whatever the count.
 */
export function threadsFor(asked: number | undefined, live: boolean, totalBytes: number): number {
  if (live) return 1;
  if (asked !== undefined) return Math.max(1, Math.min(64, Math.floor(asked)));
  // Starting a thread (its modules, its flow table) costs ~0.1 s: below this a run is done sooner alone.
  if (totalBytes < THREADS_FROM_BYTES) return 1;
  return defaultThreads();
}

/** analyze's thread count when --threads is not given (for a run of THREADS_FROM_BYTES or more). */
export function defaultThreads(): number {
  const cores = os.availableParallelism();
  return cores <= 2 ? 1 : Math.min(cores - 1, MAX_THREADS);
}

/** Runs smaller than this are read by one thread unless --threads says otherwise. */
export const THREADS_FROM_BYTES = 64 * 1024 * 1024;
/** More threads than this read the same file in parallel to no gain (the page cache's bandwidth). */
export const MAX_THREADS = 16;

/**
 * exflow ship's reading threads when --threads is not given: two, or one on one core. Measured
 * on two cores with the server on the same machine (a million flows, 65 columns): no thread
 * 12.3 s, one 9.5 s, two 8.5 s (peak RSS 113, 131, 164 MB) — better-sqlite3's reading is the
 * ship's dearest part, and a second thread still gains with the server taking a core.
 */
export function defaultShipThreads(): number {
  return Math.min(2, os.availableParallelism());
}
