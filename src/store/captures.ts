import type { Db } from './db';

export interface CaptureRow {
  id: number;
  path: string;
  size: number;
  sha256: string | null;
  fingerprint: string;
  status: string;
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
  status: 'ok' | 'truncated' | 'failed';
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

  findByFingerprint(fingerprint: string, size: number): CaptureRow[] {
    return this.db
      .prepare("SELECT id, path, size, sha256, fingerprint, status FROM captures WHERE fingerprint = ? AND size = ? AND status != 'running'")
      .all(fingerprint, size) as CaptureRow[];
  }

  /** Removes a capture and everything learned from it (for --force). */
  remove(id: number): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM flows WHERE capture_id = ?').run(id);
      this.db.prepare('DELETE FROM rpc_endpoints WHERE capture_id = ?').run(id);
      this.db.prepare('DELETE FROM captures WHERE id = ?').run(id);
    })();
  }

  /** Starts a capture row as 'running': a crash leaves it visible rather than missing. */
  begin(path: string, size: number, fingerprint: string): number {
    const r = this.db
      .prepare("INSERT INTO captures (path, size, fingerprint, status, analyzed_at, exflow_version) VALUES (?, ?, ?, 'running', ?, ?)")
      .run(path, size, fingerprint, new Date().toISOString(), this.version);
    return Number(r.lastInsertRowid);
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

  /** Hosts seen in this capture's flows, merged into the database-wide host list. */
  updateHosts(captureId: number): void {
    this.db
      .prepare(
        `INSERT INTO hosts (address, first_sec, last_sec)
         SELECT address, min(first_sec), max(last_sec) FROM (
           SELECT client AS address, first_sec, last_sec FROM flows WHERE capture_id = @id
           UNION ALL
           SELECT server AS address, first_sec, last_sec FROM flows WHERE capture_id = @id)
         GROUP BY address
         ON CONFLICT (address) DO UPDATE SET
           first_sec = min(hosts.first_sec, excluded.first_sec),
           last_sec = max(hosts.last_sec, excluded.last_sec)`,
      )
      .run({ id: captureId });
  }
}
