// A reading thread (analyze --threads N): reads every capture of the run with a
// share of the flows of its own (src/run/stream.ts) and posts to the thread that owns
// the database what it found — per capture its read result and counts, per batch the
// flows that ended. It never touches the database.
//
// Flow control: the owning thread counts the batches it has taken (control[1 + index]);
// this thread waits while more than IN_FLIGHT of its batches are not taken yet, so a
// database slower than the reading holds the reading back instead of filling memory.
import { parentPort, workerData } from 'node:worker_threads';
import { CaptureOpenError } from '../capture/errors';
import { describeFsError } from '../capture/reader';
import { rulesFromPlain, type PlainRules } from '../rules/load';
import { StreamReader, type StreamSetup } from './stream';
import type { WorkerMessage } from './threads';

export interface WorkerInput {
  rules: PlainRules;
  setup: StreamSetup;
  /** The run's streams, each its captures' paths in reading order. */
  streams: string[][];
  /** Int32: [0] stop requested; [1 + index] batches the owning thread has taken from worker `index`. */
  control: SharedArrayBuffer;
  /** Float64, three per worker: bytes read in the run, packets read in the run, flows made in its share. */
  progress: SharedArrayBuffer;
}

const IN_FLIGHT = 8;

async function main(input: WorkerInput): Promise<void> {
  const port = parentPort!;
  const index = input.setup.share.index;
  const control = new Int32Array(input.control);
  const progress = new Float64Array(input.progress);
  const post = (m: WorkerMessage) => port.postMessage(m);
  let posted = 0;
  const reader = new StreamReader(rulesFromPlain(input.rules), input.setup, (batch) => {
    for (;;) {
      const taken = Atomics.load(control, 1 + index);
      if (posted - taken < IN_FLIGHT || Atomics.load(control, 0) !== 0) break;
      Atomics.wait(control, 1 + index, taken, 200);
    }
    posted++;
    post({ type: 'flows', batch });
  });
  const stopRequested = () => Atomics.load(control, 0) !== 0;
  let bytesBefore = 0;
  let packetsBefore = 0;
  for (let s = 0; s < input.streams.length; s++) {
    const paths = input.streams[s];
    for (let k = 0; k < paths.length; k++) {
      if (stopRequested()) {
        post({ type: 'done', stopped: true });
        return;
      }
      reader.beginCapture(k);
      post({ type: 'begin', stream: s, position: k });
      try {
        const r = await reader.read(paths[k], {
          onProgress: (bytes) => {
            progress[index * 3] = bytesBefore + bytes;
            progress[index * 3 + 1] = packetsBefore + reader.ingest.counters.packets;
            progress[index * 3 + 2] = reader.table.stats.flowsCreated;
          },
          shouldStop: stopRequested,
        });
        reader.drain();
        bytesBefore += r.fileSize;
        packetsBefore += reader.ingest.counters.packets;
        post({ type: 'end', stream: s, position: k, result: r, tally: reader.tally() });
        if (r.stopped) {
          post({ type: 'done', stopped: true });
          return;
        }
      } catch (e) {
        const why = e instanceof CaptureOpenError ? e.reason : describeFsError(e);
        post({ type: 'end', stream: s, position: k, error: why, tally: reader.tally() });
      }
    }
    reader.endStream();
    post({ type: 'stream-end', stream: s });
  }
  post({ type: 'done', stopped: false });
}

main(workerData as WorkerInput).catch((e) => {
  // A fault of exflow's own in this thread: the owning thread ends the run with it.
  parentPort!.postMessage({ type: 'fault', message: (e as Error)?.stack ?? String(e) } satisfies WorkerMessage);
});
