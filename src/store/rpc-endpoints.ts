import type { Statement } from 'better-sqlite3';
import type { FlowFacts, Verdict } from '../audit/verdict';
import type { FlowLabels } from '../classify/labels';
import type { EndpointCandidate, UnboundFlow } from '../classify/rpc';
import type { Endpoint } from '../dcerpc/registry';
import type { Db } from './db';

/** An endpoint with the names classification gave its interface. */
export interface NamedEndpoint extends Endpoint {
  interface: string | null;
  service: string | null;
}

/**
 * The endpoint registry of one capture: kept in memory while the capture is read
 * (one row per server, transport, port, interface and source, the earliest
 * sighting winning) and written when it ends.
 */
export class EndpointRegistryWriter {
  private readonly rows = new Map<string, NamedEndpoint>();

  constructor(
    private readonly db: Db,
    private readonly captureId: number,
  ) {}

  add(e: NamedEndpoint): void {
    const key = `${e.server}|${e.transport}|${e.port}|${e.uuid}|${e.source}`;
    const had = this.rows.get(key);
    if (!had || e.sec < had.sec || (e.sec === had.sec && e.nsec < had.nsec)) this.rows.set(key, e);
  }

  get size(): number {
    return this.rows.size;
  }

  flush(): void {
    const insert = this.db.prepare(
      `INSERT INTO rpc_endpoints (capture_id, server, transport, protseq, port, uuid, version, interface, service, source, first_sec, first_nsec, client, annotation)
       VALUES (@captureId, @server, @transport, @protseq, @port, @uuid, @version, @interface, @service, @source, @sec, @nsec, @client, @annotation)
       ON CONFLICT (capture_id, server, transport, port, uuid, source) DO NOTHING`,
    );
    const rows = [...this.rows.values()];
    this.rows.clear();
    this.db.transaction(() => {
      for (const e of rows) insert.run({ captureId: this.captureId, ...e });
    })();
  }
}

type Decide = (flow: UnboundFlow, candidates: EndpointCandidate[]) => FlowLabels | null;
/** The verdict for a flow whose service the registry just changed. */
type Rejudge = (k: FlowFacts) => Verdict | null;

/**
 * Names flows without a bind of their own from the registry, after a capture is
 * in: this capture's flows against every capture's endpoints, and earlier
 * captures' flows against this capture's endpoints. Returns how many flows changed.
 */
export function labelFlowsFromRegistry(db: Db, captureId: number, decide: Decide, rejudge: Rejudge): number {
  // Not named by their own bind: no name, a port name, an earlier registry name, or
  // "a DCE/RPC header but no bind" (payload without an interface).
  const unbound = `(f.via IS NULL OR f.via = 'port' OR f.via_registry = 1 OR (f.via = 'payload' AND f.rpc_uuid IS NULL))`;
  const ids = db
    .prepare(
      `SELECT f.id FROM flows f JOIN rpc_endpoints e ON e.server = f.server AND e.transport = f.transport AND e.port = f.server_port
       WHERE f.capture_id = @id AND ${unbound}
       UNION
       SELECT f.id FROM rpc_endpoints e JOIN flows f ON e.server = f.server AND e.transport = f.transport AND e.port = f.server_port
       WHERE e.capture_id = @id AND f.capture_id <> @id AND ${unbound}`,
    )
    .pluck()
    .all({ id: captureId }) as number[];
  if (ids.length === 0) return 0;
  const flowById: Statement = db.prepare(
    `SELECT capture_id AS captureId, client, first_sec AS firstSec, first_nsec AS firstNsec, service, via, server, transport, server_port AS port
     FROM flows WHERE id = ?`,
  );
  const endpointsOf: Statement = db.prepare(
    `SELECT capture_id AS captureId, uuid, source, first_sec AS sec, first_nsec AS nsec, client
     FROM rpc_endpoints WHERE server = ? AND transport = ? AND port = ?`,
  );
  const update: Statement = db.prepare(
    `UPDATE flows SET service = @service, via = @via, rpc_interface = @rpcInterface, rpc_uuid = @rpcUuid,
       rpc_note = @rpcNote, via_registry = 1, client_role = @clientRole, server_role = @serverRole, verdict = @verdict,
       rule = @rule, reason = @reason WHERE id = @id`,
  );
  let changed = 0;
  db.transaction(() => {
    for (const id of ids) {
      const f = flowById.get(id) as UnboundFlow & { server: string; transport: string; port: number };
      const labels = decide(f, endpointsOf.all(f.server, f.transport, f.port) as EndpointCandidate[]);
      if (!labels) continue;
      const v = rejudge({ client: f.client, server: f.server, transport: f.transport, serverPort: f.port, service: labels.service });
      update.run({ id, ...labels, clientRole: v?.clientRole ?? null, serverRole: v?.serverRole ?? null, verdict: v?.verdict ?? null, rule: v?.rule ?? null, reason: v?.reason ?? null });
      changed++;
    }
  })();
  return changed;
}
