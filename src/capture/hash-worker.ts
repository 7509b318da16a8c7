// SHA-256 of a capture file in a worker thread, so hashing uses the second core
// while the main thread walks the same file (both read from the page cache).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

if (!isMainThread && parentPort && workerData?.exflowHashPath) {
  try {
    const fd = fs.openSync(workerData.exflowHashPath as string, 'r');
    const h = crypto.createHash('sha256');
    const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
    fs.closeSync(fd);
    parentPort.postMessage({ sha256: h.digest('hex') });
  } catch (e) {
    parentPort.postMessage({ error: (e as Error).message });
  }
}

/** Starts hashing `path` on another thread; the promise gives the hex digest (null if it could not be read). */
export function sha256InWorker(path: string): Promise<string | null> {
  return new Promise((resolve) => {
    const w = new Worker(__filename, { workerData: { exflowHashPath: path } });
    w.once('message', (m: { sha256?: string }) => {
      resolve(m.sha256 ?? null);
      void w.terminate();
    });
    w.once('error', () => resolve(null));
  });
}
