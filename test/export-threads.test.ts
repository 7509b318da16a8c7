// Issue 28: export on several threads writes exactly what one thread writes — every format, with
// and without a filter — and falls back to one thread, with the same output, when a thread cannot
// read the database or sees it changed (a write between the export's start and the threads').
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChunkFiles, exportSink } from '../src/cli/out-file';
import { writeExport, type ExportJob, type ExportSink } from '../src/run/export';
import { flowViewRows, type FlowQuery } from '../src/report/flows';
import { flowWhere, type FlowFilter } from '../src/report/filter';
import { loadRules } from '../src/rules/load';
import { openDb } from '../src/store/db';
import { alteredCopy, captureFiles, HAVE_SHARED, ROOT, runCli, tmpDir } from './helpers';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** What the export writes, as one text. */
async function exported(job: Omit<ExportJob, 'db' | 'rules'>, during?: () => void): Promise<string> {
  const db = openDb(job.dbPath, { create: false, readonly: true });
  const parts: Buffer[] = [];
  const sink: ExportSink = {
    line: (s) => {
      parts.push(Buffer.from(s));
      during?.();
      during = undefined;
    },
    encoded: (bytes) => parts.push(Buffer.from(bytes)),
    stopped: () => false,
  };
  try {
    expect(await writeExport({ ...job, db, rules: loadRules() }, sink)).toBe(true);
  } finally {
    db.close();
  }
  return Buffer.concat(parts).toString('utf8');
}

describe.skipIf(!HAVE_SHARED)('export on threads', () => {
  const db = path.join(dir, 'threads.sqlite');
  const files = [...captureFiles('lab'), ...captureFiles('lab-exchange'), path.join(ROOT, 'samples', 'exchange-org.pcapng')];
  const a = runCli(['analyze', ...files, '--db', db, '--separate', '--inventory', path.join(ROOT, 'samples', 'inventory.yaml'), '--quiet']);
  const base = { dbPath: db, bulkIndex: 'flows-test', parallelFrom: 1, partIds: 7 };

  it('writes what one thread writes: NDJSON, bulk, CSV; all flows and a filtered few; three threads of parts of 7 ids', async () => {
    expect(a.code, a.stderr).toBe(0);
    const filters: FlowFilter[] = [{}, { service: 'msrpc-epm' }, { verdict: 'unexpected' }, { server: '10.77.0.10' }, { host: '10.77.0.100', since: 0 }, { finding: 'rpc-unauthenticated' }, { capture: '2' }];
    for (const filter of filters) {
      for (const format of ['ndjson', 'bulk', 'csv'] as const) {
        const one = await exported({ ...base, filter, format, threads: 1 });
        const three = await exported({ ...base, filter, format, threads: 3 });
        expect(three, `${format} ${JSON.stringify(filter)}`).toBe(one);
        expect(one.split('\n').length).toBeGreaterThan(format === 'csv' ? 2 : 1);
      }
    }
    // The command's own answer is the same text.
    const cli = runCli(['export', '--db', db, '--threads', '2']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toBe(await exported({ ...base, filter: {}, format: 'ndjson', threads: 1 }));
  });

  it('the first flows of a host on many, read capture by capture, are the first flows read through its address', () => {
    const d = openDb(db, { create: false, readonly: true });
    try {
      const captures = d.prepare('SELECT count(*) FROM captures').pluck().get() as number;
      expect(captures).toBeGreaterThan(5);
      const busy = d.prepare('SELECT server FROM flows GROUP BY server ORDER BY count(*) DESC LIMIT 1').pluck().get() as string;
      const rows = (q: FlowQuery, walkFrom?: number) => [...flowViewRows(d, q, walkFrom === undefined ? {} : { walkFrom })].map((r) => `${r.capture_id} ${r.first_sec}.${r.first_nsec} ${r.client}:${r.client_port} ${r.verdict}`);
      for (const q of [{ server: busy, limit: 5 }, { host: busy, limit: 40 }, { host: busy, limit: 3, verdict: 'unexpected' }, { client: busy, limit: 1000 }, { host: busy, limit: 2, since: 0 }] as FlowQuery[]) {
        const walked = rows(q, 0);
        expect(walked, JSON.stringify(q)).toEqual(rows(q));
        // Several captures' flows where the limit reaches past the first.
        if (q.limit === 40) expect(new Set(walked.map((r) => r.split(' ')[0])).size).toBeGreaterThan(1);
      }
    } finally {
      d.close();
    }
  });

  it("a part's flows are read by their ids, not through an index of the filter's columns (each part would read a busy host's every flow)", () => {
    const d = openDb(db, { create: false, readonly: true });
    try {
      for (const filter of [{ server: '10.77.0.10' }, { host: '10.77.0.100' }, { client: '10.77.0.100' }, { capture: '2' }, { finding: 'rpc-unauthenticated' }] as FlowFilter[]) {
        const w = flowWhere(filter, 'f', [], { scan: true });
        const plan = (d.prepare(`EXPLAIN QUERY PLAN SELECT f.id FROM ${w.view} f ${w.sql} AND f.id >= ? AND f.id < ? ORDER BY f.id`).all(...w.args, 1, 8) as { detail: string }[]).map((r) => r.detail);
        expect(plan.find((p) => /^(SEARCH|SCAN) f\b/.test(p)), JSON.stringify(filter)).toMatch(/^SEARCH f USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/);
        // Without it, the index is taken (what the export did).
        const plain = flowWhere(filter, 'f');
        const was = (d.prepare(`EXPLAIN QUERY PLAN SELECT f.id FROM ${plain.view} f ${plain.sql} AND f.id >= ? AND f.id < ? ORDER BY f.id`).all(...plain.args, 1, 8) as { detail: string }[]).map((r) => r.detail);
        if ('server' in filter) expect(was.join('\n')).toMatch(/USING INDEX flows_server/);
      }
    } finally {
      d.close();
    }
  });

  it('flow ids spread over billions (a hostile database): one thread writes it, the same lines, not billions of empty parts (which would not end within the test\'s time)', async () => {
    const sparse = alteredCopy(db, path.join(dir, 'sparse.sqlite'), 'UPDATE flows SET id = id * 1000000000');
    const three = await exported({ ...base, dbPath: sparse, filter: {}, format: 'csv', threads: 3, partIds: 4096 });
    expect(three).toBe(await exported({ ...base, dbPath: sparse, filter: {}, format: 'csv', threads: 1 }));
    expect(three.split('\n').length).toBeGreaterThan(50);
  });

  it('a thread that cannot open the database, or a write before the threads read: one thread writes it all, the same', async () => {
    const one = await exported({ ...base, filter: {}, format: 'csv', threads: 1 });
    // The threads are given a file that is no database: each fails, this thread writes every part.
    const bogus = path.join(dir, 'not-a-database.sqlite');
    fs.writeFileSync(bogus, 'not sqlite');
    const failing = await exportedWithThreadsOn(bogus, { ...base, filter: {}, format: 'csv', threads: 2 });
    expect(failing).toBe(one);
    // A host given other roles after the export began (its header written), before the threads
    // look (as an audit would): they see another database; the export is the one it began on.
    const during = await exported({ ...base, filter: {}, format: 'csv', threads: 2 }, () => {
      const w = new Database(db);
      expect(w.prepare("UPDATE hosts SET roles = 'internet' WHERE address = '10.20.0.100'").run().changes).toBe(1);
      w.close();
    });
    expect(during).toBe(one);
    const after = await exported({ ...base, filter: {}, format: 'csv', threads: 2 });
    expect(after).not.toBe(one);
    expect(after).toBe(await exported({ ...base, filter: {}, format: 'csv', threads: 1 }));
  });

  it('threads whose heap cannot hold what they make (out of memory): one thread writes what they did not, the same', async () => {
    for (const format of ['ndjson', 'csv'] as const) {
      const one = await exported({ ...base, filter: {}, format, threads: 1 });
      // Parts of 2,000 ids in threads of 1 MB of old generation: each runs out of memory making its first part or before.
      expect(await exported({ ...base, partIds: 2000, filter: {}, format, threads: 2, threadOldMb: 1 }), format).toBe(one);
    }
  });

  it('a chunked bulk body: parts written line by line, every file ends between documents', async () => {
    const dbh = openDb(db, { create: false, readonly: true });
    const out = path.join(dir, 'bulk.ndjson');
    const chunks = new ChunkFiles(out, 4000, db);
    try {
      await writeExport({ ...base, db: dbh, rules: loadRules(), filter: {}, format: 'bulk', threads: 2 }, exportSink(chunks, () => false));
      chunks.finish();
    } finally {
      dbh.close();
    }
    expect(chunks.files.length).toBeGreaterThan(3);
    const whole = chunks.files.map((f) => fs.readFileSync(f, 'utf8'));
    for (const text of whole) {
      expect(text.endsWith('\n')).toBe(true);
      // Action and document: an even number of lines, each action a create.
      const lines = text.trimEnd().split('\n');
      expect(lines.length % 2).toBe(0);
      for (let i = 0; i < lines.length; i += 2) expect(Object.keys(JSON.parse(lines[i]))).toEqual(['create']);
    }
    expect(whole.join('')).toBe(await exported({ ...base, filter: {}, format: 'bulk', threads: 1 }));
  });
});

/** The export with the threads pointed at `threadDb` (this thread reads the real one). */
async function exportedWithThreadsOn(threadDb: string, job: Omit<ExportJob, 'db' | 'rules'>): Promise<string> {
  const db = openDb(job.dbPath, { create: false, readonly: true });
  const parts: Buffer[] = [];
  try {
    await writeExport({ ...job, dbPath: threadDb, db, rules: loadRules() }, { line: (s) => parts.push(Buffer.from(s)), encoded: (b) => parts.push(Buffer.from(b)), stopped: () => false });
  } finally {
    db.close();
  }
  return Buffer.concat(parts).toString('utf8');
}
