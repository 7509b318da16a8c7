// The views' verdict join (judgedFrom: a flow's two hosts, then the verdicts row of its key) held
// in memory, for a listing of many flows: three b-tree searches a flow cost an export of a million
// flows 13 µs each (flow_view 22.7 µs a row against 9.7 µs for the flows alone). The hosts' side of
// the key (their roles as guessed, their versions) is computed by SQL — GUESSED_ROLES, as the views
// do — and only the matching is done here; test/ecs.test.ts checks every flow against flow_view.
import type { Db } from './db';
import { GUESSED_ROLES } from './schema';

interface HostSide {
  /** The host's roles as the verdict key has them (a low-confidence guess marked). */
  roles: string;
  version: string;
  name: string | null;
}

/** What the views join to a flow: its verdict row's id (null: none) and its two hosts' names. */
export interface Judged {
  verdictId: number | null;
  clientName: string | null;
  serverName: string | null;
}

export type Judge = (client: string, server: string, service: string | null, transport: string, serverPort: number) => Judged;

const NO_HOST: HostSide = { roles: '', version: '', name: null };

/** The verdict key as one string (NUL never occurs in a stored role, service or version: they come from rules and the inventory, checked as text). */
const keyOf = (cr: string, sr: string, service: string, transport: string, port: number, cv: string, sv: string) => `${cr}\0${sr}\0${service}\0${transport}\0${port}\0${cv}\0${sv}`;

/**
 * The judgement of flows from memory, or null when the database has more hosts or verdicts than
 * `most` (each a few hundred bytes; a hostile file could hold millions): then the views join it.
 */
export function heldJudge(db: Db, most: number): Judge | null {
  const count = (table: string) => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
  if (count('hosts') > most || count('verdicts') > most) return null;
  const hosts = new Map<string, HostSide>();
  for (const h of db.prepare(`SELECT h.address, ${GUESSED_ROLES('h')} AS roles, coalesce(h.version, '') AS version, h.name FROM hosts h`).all() as (HostSide & { address: string })[]) {
    hosts.set(h.address, { roles: h.roles, version: h.version, name: h.name });
  }
  const verdicts = new Map<string, number>();
  for (const v of db.prepare('SELECT id, cr, sr, service, transport, port, cv, sv FROM verdicts').all() as { id: number; cr: string; sr: string; service: string; transport: string; port: number; cv: string; sv: string }[]) {
    verdicts.set(keyOf(v.cr, v.sr, v.service, v.transport, v.port, v.cv, v.sv), v.id);
  }
  return (client, server, service, transport, serverPort) => {
    const hc = hosts.get(client) ?? NO_HOST;
    const hs = hosts.get(server) ?? NO_HOST;
    const id = verdicts.get(keyOf(hc.roles, hs.roles, service ?? '', transport, service === null ? serverPort : 0, hc.version, hs.version));
    return { verdictId: id ?? null, clientName: hc.name, serverName: hs.name };
  };
}
