// SHA-256 of a capture file in a worker thread, so hashing uses the second core
// while the main thread walks the same file (both read from the page cache).
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { sha256File } from './fingerprint';

if (!isMainThread && parentPort && workerData?.exflowHashPath) {
  try {
    parentPort.postMessage({ sha256: sha256File(workerData.exflowHashPath as string) });
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
