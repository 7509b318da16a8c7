// The names the run's flows gave hosts (host_names) and the evidence about names
// (name_evidence), per capture, so that a replaced or unfinished run's names go with
// its captures. Held in memory per batch (distinct entries only) and upserted: the
// first and last sighting and how many flows showed each.
import type { HostName, NameEvidence } from '../classify/names';
import type { Db } from './db';

const BATCH = 10_000;

/** Names read from an account (a computer account's Kerberos principal, NTLM's workstation): they name a person's machine. */
const ACCOUNT_DERIVED = new Set(['kerberos-client', 'ntlm-workstation']);

/** One distinct entry: its key columns as a tuple (never a joined string split again) and its counts. */
interface Seen {
  key: [number, string, string, string];
  first: number;
  last: number;
  flows: number;
}

export class NameWriter {
  private readonly names = new Map<string, Seen>();
  private readonly evidence = new Map<string, Seen>();

  /** @param redact with --redact-accounts: what is stored for a host name read from an account (a keyed hash) */
  constructor(
    private readonly db: Db,
    private readonly redact?: (name: string) => string,
  ) {}

  add(captureId: number, sec: number, lastSec: number, names: HostName[], evidence: NameEvidence[]): void {
    for (const n of names) {
      const name = this.redact && ACCOUNT_DERIVED.has(n.source) ? this.redact(n.name) : n.name;
      bump(this.names, [captureId, n.address, name, n.source], sec, lastSec);
    }
    for (const e of evidence) bump(this.evidence, [captureId, e.name, e.kind, e.detail], sec, lastSec);
    if (this.names.size + this.evidence.size >= BATCH) this.flush();
  }

  flush(): void {
    if (this.names.size === 0 && this.evidence.size === 0) return;
    const upsertName = this.db.prepare(
      `INSERT INTO host_names (capture_id, address, name, source, first_sec, last_sec, flows) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (capture_id, address, name, source) DO UPDATE SET first_sec = min(first_sec, excluded.first_sec), last_sec = max(last_sec, excluded.last_sec), flows = flows + excluded.flows`,
    );
    const upsertEvidence = this.db.prepare(
      `INSERT INTO name_evidence (capture_id, name, kind, detail, first_sec, last_sec, flows) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (capture_id, name, kind, detail) DO UPDATE SET first_sec = min(first_sec, excluded.first_sec), last_sec = max(last_sec, excluded.last_sec), flows = flows + excluded.flows`,
    );
    const names = [...this.names.values()];
    const evidence = [...this.evidence.values()];
    this.names.clear();
    this.evidence.clear();
    this.db.transaction(() => {
      for (const s of names) upsertName.run(...s.key, s.first, s.last, s.flows);
      for (const s of evidence) upsertEvidence.run(...s.key, s.first, s.last, s.flows);
    })();
  }

  discard(): void {
    this.names.clear();
    this.evidence.clear();
  }
}

function bump(m: Map<string, Seen>, key: Seen['key'], first: number, last: number): void {
  // The map's key is the tuple in JSON: unambiguous whatever the texts hold.
  const k = JSON.stringify(key);
  const s = m.get(k);
  if (!s) m.set(k, { key, first, last, flows: 1 });
  else {
    if (first < s.first) s.first = first;
    if (last > s.last) s.last = last;
    s.flows++;
  }
}
