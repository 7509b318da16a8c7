// A thread of exflow ship (src/run/ship.ts): opens the sensor's database read-only and reads and
// encodes the slices of flow ids it is asked for (src/store/clickhouse/ship.ts: sliceReader),
// posting each slice's RowBinary back without a copy.
import { parentPort, workerData } from 'node:worker_threads';
import { openDb } from '../store/db';
import { sliceReader, type SliceQuery } from '../store/clickhouse/ship';
import type { ShipSliceAsk, ShipSliceAnswer, ShipThreadInput } from './ship';

const input = workerData as ShipThreadInput;
const db = openDb(input.dbPath, { create: false, readonly: true });
const readers = new Map<string, ReturnType<typeof sliceReader>>();
const readerFor = (q: SliceQuery) => {
  const key = JSON.stringify(q);
  let r = readers.get(key);
  if (r === undefined) {
    readers.clear();
    r = sliceReader(db, q);
    readers.set(key, r);
  }
  return r;
};

parentPort!.on('message', (m: ShipSliceAsk | 'stop') => {
  if (m === 'stop') {
    db.close();
    process.exit(0);
  }
  readerFor(m.query)
    .read(m.from, m.to)
    .then(
      ({ rows, bytes }) => {
        // A buffer of its own, so that it can be handed over rather than copied.
        const own = new Uint8Array(bytes.length);
        own.set(bytes);
        parentPort!.postMessage({ ask: m.ask, rows, bytes: own.buffer } satisfies ShipSliceAnswer, [own.buffer]);
      },
      (e: unknown) => parentPort!.postMessage({ ask: m.ask, failed: e instanceof Error ? e.message : String(e), value: e instanceof Error && e.name === 'ShipValueError' } satisfies ShipSliceAnswer),
    );
});
