// SHA-256 of capture files on a worker thread, so hashing uses the second core
// while the main thread walks the same files (both read from the page cache).
// One thread serves a whole run: files are hashed in the order asked, and
// starting a thread per file (tens of ms) would cost more than hashing a small one.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { sha256File } from './fingerprint';

if (!isMainThread && parentPort && workerData?.exflowHashWorker) {
  const port = parentPort;
  port.on('message', (m: { id: number; path: string }) => {
    try {
      port.postMessage({ id: m.id, sha256: sha256File(m.path) });
    } catch (e) {
      port.postMessage({ id: m.id, error: (e as Error).message });
    }
  });
}

export class HashWorker {
  private worker: Worker | null = null;
  private next = 0;
  private readonly waiting = new Map<number, (sha: string | null) => void>();

  /** The hex digest of the file at `path`, or null if it could not be read. */
  hash(path: string): Promise<string | null> {
    if (!this.worker) this.start();
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.worker!.postMessage({ id, path });
    });
  }

  private start(): void {
    const w = new Worker(__filename, { workerData: { exflowHashWorker: true } });
    w.on('message', (m: { id: number; sha256?: string }) => {
      const done = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      done?.(m.sha256 ?? null);
    });
    w.on('error', () => this.fail());
    w.on('exit', () => this.fail());
    this.worker = w;
  }

  private fail(): void {
    for (const done of this.waiting.values()) done(null);
    this.waiting.clear();
    this.worker = null;
  }

  close(): void {
    const w = this.worker;
    this.worker = null;
    if (w) void w.terminate();
  }
}
