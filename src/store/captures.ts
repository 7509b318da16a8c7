import type { RecordsSeen } from '../capture/resume';
import type { Db } from './db';

export interface CaptureRow {
  id: number;
  run_id: number;
  path: string;
  size: number;
  sha256: string | null;
  fingerprint: string;
  status: string;
}

/** Where a capture stands in its run. */
export interface CapturePlace {
  runId: number;
  /** The id of the stream's first capture (null: this capture starts a stream). */
  streamId: number | null;
  position: number;
  headDigest: string | null;
}

export interface CaptureResult {
  format: string;
  compressed: boolean;
  linkTypes: string[];
  packets: number;
  bytes: number;
  firstSec: number | null;
  firstNsec: number | null;
  lastSec: number | null;
  lastNsec: number | null;
  /** 'running' at a live run's checkpoints. */
  status: 'ok' | 'truncated' | 'failed' | 'running';
  warnings: { offset: number; message: string }[];
  flows: number;
  counters: Record<string, number>;
  sha256: string | null;
  seconds: number;
}

export class CaptureStore {
  constructor(
    private readonly db: Db,
    private readonly version: string,
  ) {}

  /** Captures of finished runs with this cheap fingerprint (the same file, probably). */
  findByFingerprint(fingerprint: string, size: number): CaptureRow[] {
    return this.db
      .prepare("SELECT id, run_id, path, size, sha256, fingerprint, status FROM capture_view WHERE fingerprint = ? AND size = ? AND status != 'running'")
      .all(fingerprint, size) as CaptureRow[];
  }

  /** Captures of finished runs that begin with the same packets (the same capture in another format). */
  findByHead(headDigest: string): CaptureRow[] {
    return this.db
      .prepare('SELECT id, run_id, path, size, sha256, fingerprint, status FROM capture_view WHERE head_digest = ?')
      .all(headDigest) as CaptureRow[];
  }

  /**
   * Captures of finished runs that begin with these first records, each with what its
   * reading saw in all (the records it read and those it skipped as read before), most
   * records first: the latest reading of a file that grows.
   */
  findReadings(headDigest: string): (CaptureRow & RecordsSeen)[] {
    const rows = this.db
      .prepare(`SELECT id, run_id, path, size, sha256, fingerprint, status, packets, bytes, last_sec, last_nsec,
                       CASE WHEN json_valid(counters) THEN coalesce(json_extract(counters, '$.recordsSkipped'), 0) ELSE 0 END AS rs,
                       CASE WHEN json_valid(counters) THEN coalesce(json_extract(counters, '$.bytesSkipped'), 0) ELSE 0 END AS bs
                FROM capture_view WHERE head_digest = ? AND last_sec IS NOT NULL`)
      .all(headDigest) as (CaptureRow & { packets: number; bytes: number; last_sec: number; last_nsec: number; rs: unknown; bs: unknown })[];
    return rows
      .map((r) => ({ ...r, records: r.packets + count(r.rs), bytes: r.bytes + count(r.bs), lastSec: r.last_sec, lastNsec: r.last_nsec }))
      .sort((a, b) => b.records - a.records || b.id - a.id);
  }

  /** Starts a capture row as 'running' in its run: invisible until the run completes. */
  begin(path: string, size: number, fingerprint: string, place: CapturePlace): number {
    const r = this.db
      .prepare(
        `INSERT INTO captures (run_id, stream_id, position, head_digest, path, size, fingerprint, status, analyzed_at, exflow_version)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)`,
      )
      .run(place.runId, place.streamId, place.position, place.headDigest, path, size, fingerprint, new Date().toISOString(), this.version);
    const id = Number(r.lastInsertRowid);
    if (place.streamId === null) this.db.prepare('UPDATE captures SET stream_id = id WHERE id = ?').run(id);
    return id;
  }

  /** Fills in what is known only after reading (a stream's size, its digests). */
  identify(id: number, size: number, fingerprint: string, headDigest: string | null): void {
    this.db.prepare('UPDATE captures SET size = ?, fingerprint = ?, head_digest = coalesce(?, head_digest) WHERE id = ?').run(size, fingerprint, headDigest, id);
  }

  /** captures.flows: the flows that began in each capture of the run. */
  countFlows(runId: number): void {
    this.db
      .prepare('UPDATE captures SET flows = (SELECT count(*) FROM flows f WHERE f.capture_id = captures.id) WHERE run_id = ?')
      .run(runId);
  }

  /** Per capture id: towers without an IP transport that its flows' mapper answers held (counters.rpcNonIpTowers). */
  countNonIpTowers(perCapture: Map<number, number>): void {
    const set = this.db.prepare("UPDATE captures SET counters = json_set(counters, '$.rpcNonIpTowers', ?) WHERE id = ? AND json_valid(counters)");
    for (const [id, n] of perCapture) set.run(n, id);
  }

  finish(id: number, r: CaptureResult): void {
    this.db
      .prepare(
        `UPDATE captures SET sha256 = ?, format = ?, compressed = ?, link_types = ?, packets = ?, bytes = ?,
           first_sec = ?, first_nsec = ?, last_sec = ?, last_nsec = ?, status = ?, warnings = ?, flows = ?,
           counters = ?, seconds = ? WHERE id = ?`,
      )
      .run(
        r.sha256, r.format, r.compressed ? 1 : 0, r.linkTypes.join(','), r.packets, r.bytes,
        r.firstSec, r.firstNsec, r.lastSec, r.lastNsec, r.status, JSON.stringify(r.warnings), r.flows,
        JSON.stringify(r.counters), r.seconds, id,
      );
  }

  /** Hosts seen in the flows of a run's captures, merged into the database-wide host list. */
  updateHosts(runId: number): void {
    // From the run's rollup rows, not its flows: the earliest and latest second each address was seen.
    this.db
      .prepare(
        `INSERT INTO hosts (address, first_sec, last_sec)
         SELECT address, min(first_ns) / 1000000000, max(last_ns) / 1000000000 FROM (
           SELECT client AS address, first_ns, last_ns FROM flow_rollup WHERE run_id = @id
           UNION ALL
           SELECT server AS address, first_ns, last_ns FROM flow_rollup WHERE run_id = @id)
         GROUP BY address
         ON CONFLICT (address) DO UPDATE SET
           first_sec = min(hosts.first_sec, excluded.first_sec),
           last_sec = max(hosts.last_sec, excluded.last_sec)`,
      )
      .run({ id: runId });
  }

  /** Hosts no visible flow mentions any more (after a run's data was replaced). */
  dropOrphanHosts(): void {
    // From the rows without the hour (the same addresses as the hourly rows'; ten days' totals, not their 4M hourly rows).
    this.db.exec('DELETE FROM hosts WHERE address NOT IN (SELECT client FROM run_rollup_seen UNION SELECT server FROM run_rollup_seen)');
  }
}

/** A count kept in a database's JSON (it is input): a whole number, else 0. */
function count(v: unknown): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0;
}
