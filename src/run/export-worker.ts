// A thread of a parallel export (src/run/export.ts): opens the database read-only, reads in one
// read transaction the parts of the export it is given — every `threads`-th run of PART_IDS flow
// ids — and posts each part's lines. It makes a part only while it has fewer than AHEAD parts not yet
// written (the thread that writes gives one back for each it writes), so its memory stays flat.
import { parentPort, workerData } from 'node:worker_threads';
import { exportLines } from '../report/export';
import { heldTexts } from '../report/flows';
import { rulesFromPlain } from '../rules/load';
import { openDb } from '../store/db';
import { exportFingerprint, type ExportBuffers, type ExportCredit, type ExportThreadInput, type ExportThreadMessage } from './export';

async function main(input: ExportThreadInput): Promise<void> {
  const port = parentPort!;
  const post = (m: ExportThreadMessage) => port.postMessage(m);
  let credit = 0;
  let go: (() => void) | null = null;
  let stopped = false;
  // Buffers come back with the credit once their part is written: a few circulate, none pile up.
  const pool: ExportBuffers[] = [];
  port.on('message', (m: ExportCredit) => {
    if (m === 'stop') stopped = true;
    else {
      credit++;
      if (m !== 'part') pool.push(m);
    }
    go?.();
  });
  const turn = () => new Promise<void>((resolve) => (go = resolve));
  const db = openDb(input.dbPath, { create: false, readonly: true });
  try {
    db.exec('BEGIN');
    post({ kind: 'ready', fingerprint: exportFingerprint(db) });
    const rules = rulesFromPlain(input.rules);
    const held = heldTexts(db);
    for (let part = input.index; part < input.parts; part += input.threads) {
      while (credit === 0 && !stopped) await turn();
      if (stopped) return;
      credit--;
      const from = input.firstId + part * input.partIds;
      const made = encode(exportLines(db, rules, input.filter, input.format, input.bulkIndex, { ids: { from, to: from + input.partIds }, header: false, held }), pool.pop());
      port.postMessage({ kind: 'part', part, ...made } satisfies ExportThreadMessage, [made.bytes, made.ends]);
    }
  } finally {
    if (db.inTransaction) db.exec('COMMIT');
    db.close();
  }
}

/** Lines as UTF-8 in one buffer (`into`'s when it is big enough), and the offset each line ends at. */
function encode(lines: Iterable<string>, into: ExportBuffers | undefined): ExportBuffers & { length: number; count: number } {
  let buf = Buffer.from(into?.bytes ?? new ArrayBuffer(FIRST_BYTES));
  let ends = new Int32Array(into?.ends ?? new ArrayBuffer(4 * 4096));
  let used = 0;
  let n = 0;
  for (const line of lines) {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (used + line.length * 3 > buf.length) {
      const bigger = Buffer.from(new ArrayBuffer(Math.max(buf.length * 2, used + line.length * 3)));
      buf.copy(bigger, 0, 0, used);
      buf = bigger;
    }
    used += buf.write(line, used);
    if (n === ends.length) {
      const more = new Int32Array(ends.length * 2);
      more.set(ends);
      ends = more;
    }
    ends[n++] = used;
  }
  return { bytes: buf.buffer as ArrayBuffer, length: used, ends: ends.buffer as ArrayBuffer, count: n };
}

/** A part's first buffer: ~4,000 ECS documents of ~1.5 kB. */
const FIRST_BYTES = 8 << 20;

main(workerData as ExportThreadInput).then(
  () => process.exit(0),
  (e: unknown) => {
    // The writing thread does this part again itself, and says what is wrong as a one-thread export would.
    parentPort!.postMessage({ kind: 'failed', message: e instanceof Error ? e.message : String(e) } satisfies ExportThreadMessage);
    process.exit(0);
  },
);
