// A thread of exflow ship (src/run/ship.ts): opens the sensor's database read-only and reads and
// encodes the slices of flow ids it is asked for (src/store/clickhouse/ship.ts: sliceReader),
// posting each slice's RowBinary back without a copy.
import { parentPort, workerData } from 'node:worker_threads';
import { openDb } from '../store/db';
import { encodeSlice, type SliceQuery } from '../store/clickhouse/ship';
import { RowBinaryWriter } from '../store/clickhouse/rowbinary';
import type { ShipSliceAsk, ShipSliceAnswer, ShipThreadInput } from './ship';

const input = workerData as ShipThreadInput;
const db = openDb(input.dbPath, { create: false, readonly: true });
/** The statement and writer of the query last asked (a ship asks one run's flows at a time). */
let current: { key: string; st: ReturnType<ReturnType<typeof db.prepare>['raw']>; writer: RowBinaryWriter } | null = null;
/** Buffers the sending thread gave back once their slice was sent. */
const pool: ArrayBuffer[] = [];

parentPort!.on('message', (m: ShipSliceAsk | { give: ArrayBuffer } | 'stop') => {
  if (m === 'stop') {
    db.close();
    process.exit(0);
  }
  if ('give' in m) {
    pool.push(m.give);
    return;
  }
  try {
    const key = JSON.stringify(m.query);
    if (current?.key !== key) current = { key, st: db.prepare(m.query.sql).raw(), writer: new RowBinaryWriter(m.query.types, m.query.names) };
    const { rows, bytes } = encodeSlice(current.st.iterate({ ...m.query.bind, from: m.from, to: m.to }) as IterableIterator<unknown[]>, current.writer, m.query.run, pool.pop() ?? null);
    // Handed over, not copied; it comes back once sent.
    parentPort!.postMessage({ ask: m.ask, rows, bytes: bytes.buffer as ArrayBuffer, length: bytes.length } satisfies ShipSliceAnswer, [bytes.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ ask: m.ask, failed: e instanceof Error ? e.message : String(e), value: e instanceof Error && e.name === 'ShipValueError' } satisfies ShipSliceAnswer);
  }
});
