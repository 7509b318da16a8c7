import type { Statement } from 'better-sqlite3';
import type { FlowLabels } from '../classify/labels';
import type { EndpointCandidate, UnboundFlow } from '../classify/rpc';
import type { Endpoint } from '../inspect/dcerpc/registry';
import type { Db } from './db';
import { changingFlows } from './rollups';

/** An endpoint with the names classification gave its interface, and the capture of the connection that taught it. */
export interface NamedEndpoint extends Endpoint {
  interface: string | null;
  service: string | null;
  captureId: number;
}

/** Distinct endpoints held in memory before they are written out. */
const REGISTRY_BATCH = 10_000;

/**
 * The endpoint registry of a run: kept in memory while captures are read (one row
 * per capture, server, transport, port, interface and source, the earliest
 * sighting winning) and written at the end or at a live run's checkpoints.
 */
export class EndpointRegistryWriter {
  private readonly rows = new Map<string, NamedEndpoint>();

  constructor(private readonly db: Db) {}

  add(e: NamedEndpoint): void {
    const key = `${e.captureId}|${e.server}|${e.transport}|${e.port}|${e.uuid}|${e.source}`;
    const had = this.rows.get(key);
    if (!had || e.sec < had.sec || (e.sec === had.sec && e.nsec < had.nsec)) this.rows.set(key, e);
    // Bounded: past this many distinct endpoints they go to SQLite, where the earliest sighting still wins.
    if (this.rows.size >= REGISTRY_BATCH) this.flush();
  }

  get size(): number {
    return this.rows.size;
  }

  flush(): void {
    const insert = this.db.prepare(
      `INSERT INTO rpc_endpoints (capture_id, server, transport, protseq, port, uuid, version, interface, service, source, first_sec, first_nsec, client, annotation)
       VALUES (@captureId, @server, @transport, @protseq, @port, @uuid, @version, @interface, @service, @source, @sec, @nsec, @client, @annotation)
       ON CONFLICT (capture_id, server, transport, port, uuid, source) DO UPDATE SET
         first_sec = excluded.first_sec, first_nsec = excluded.first_nsec, client = excluded.client
       WHERE (excluded.first_sec, excluded.first_nsec) < (rpc_endpoints.first_sec, rpc_endpoints.first_nsec)`,
    );
    const rows = [...this.rows.values()];
    this.rows.clear();
    this.db.transaction(() => {
      for (const e of rows) insert.run(e);
    })();
  }
}

type Decide = (flow: UnboundFlow, candidates: EndpointCandidate[]) => FlowLabels | null;

/** The flows of run `runId`'s captures, as an SQL condition on flows aliased f. */
const OF_RUN = 'f.capture_id IN (SELECT id FROM captures WHERE run_id = @run)';
/** Endpoints learned in run `runId`, as a condition on rpc_endpoints aliased e. */
const EP_OF_RUN = 'e.capture_id IN (SELECT id FROM captures WHERE run_id = @run)';
/**
 * Finished runs whose registry a run shares: those of the same sensor (analyze --sensor;
 * a database's runs without one are all this host's), or every one with @shared = 1
 * (merge --shared-registry): each capture point's registry stays its own by default.
 */
const SHARED_CAPTURES = `(SELECT c.id FROM capture_view c WHERE @shared = 1 OR c.sensor IS (SELECT sensor FROM runs WHERE id = @run))`;
/** Endpoints a run may use: its own, and those of finished (visible) runs it shares a registry with. */
const EP_USABLE = `(${EP_OF_RUN} OR e.capture_id IN ${SHARED_CAPTURES})`;
/** Whether an endpoint (of `scope`, a condition on rpc_endpoints e) is at address `addr`, port `port`, flow f's transport. */
const endpointAt = (addr: string, port: string, scope: string) =>
  `EXISTS (SELECT 1 FROM rpc_endpoints e WHERE e.server = ${addr} AND e.transport = f.transport AND e.port = ${port} AND ${scope})`;
/** The distinct (server, transport, port) of the endpoints learned in run `runId`, as a subquery k. */
const RUN_ENDPOINT_KEYS = `(SELECT DISTINCT e.server, e.transport, e.port FROM rpc_endpoints e WHERE ${EP_OF_RUN})`;
/** Flows a run may revise: its own, and those of finished runs it shares a registry with. */
const FLOW_USABLE = `(${OF_RUN} OR f.capture_id IN ${SHARED_CAPTURES})`;
/**
 * This run's endpoint keys that an earlier usable stream saw no endpoint at: only such a stream's
 * flows can be named anew by this run. A flow is named by its own stream's endpoints where its
 * stream has any (labelFromEndpoints), and this run's are another stream's; so where every
 * usable stream saw the key, no earlier flow's name can change. A site whose every day's
 * captures see the mapper answers for its endpoints asks none of the earlier days' flows again
 * (the bench's eleventh day: 68,596 of them read at random, 4.6 s).
 */
const OPEN_RUN_ENDPOINT_KEYS = `(SELECT k.* FROM ${RUN_ENDPOINT_KEYS} k
  WHERE (SELECT count(DISTINCT c.stream_id) FROM captures c WHERE c.id IN ${SHARED_CAPTURES} AND c.run_id IS NOT @run)
      > (SELECT count(DISTINCT c.stream_id) FROM rpc_endpoints e JOIN captures c ON c.id = e.capture_id
         WHERE e.server = k.server AND e.transport = k.transport AND e.port = k.port AND c.id IN ${SHARED_CAPTURES} AND c.run_id IS NOT @run))`;

/** How flows without a handshake had their direction guessed; the registry overrules these. */
const GUESSED = "('service-port', 'lower-port', 'first-packet')";

/**
 * Turns around flows whose client/server direction was guessed (no SYN in the
 * captures, no DCE/RPC client seen) when the registry knows better: the side the
 * mapper or a bind named as an RPC endpoint is the server. Flows of this run
 * against every usable endpoint, and earlier runs' flows against this run's.
 * Their port-derived labels are cleared so the registry names them next.
 * Returns how many flows were turned.
 */
export function orientFromRegistry(db: Db, runId: number, shared = false): number {
  const guessedNotServer = `f.direction_by IN ${GUESSED} AND NOT ${endpointAt('f.server', 'f.server_port', EP_USABLE)}`;
  // This run's flows against every usable endpoint; earlier runs' flows found from this run's
  // endpoints (by the flows' client: one OR over both read every flow of the database — 2.6 s
  // a run at ten days of a million flows).
  const ids = db
    .prepare(
      `SELECT f.id FROM flows f WHERE ${OF_RUN} AND ${guessedNotServer} AND ${endpointAt('f.client', 'f.client_port', EP_USABLE)}
       UNION
       SELECT f.id FROM ${RUN_ENDPOINT_KEYS} k CROSS JOIN flows f INDEXED BY flows_client ON f.client = k.server
       WHERE f.transport = k.transport AND f.client_port = k.port AND ${FLOW_USABLE} AND ${guessedNotServer}
       ORDER BY 1`,
    )
    .pluck()
    .all({ run: runId, shared: shared ? 1 : 0 }) as number[];
  if (ids.length === 0) return 0;
  // SQLite evaluates every SET expression on the row as it was: a swap needs no temporaries.
  const turn = db.prepare(
    `UPDATE flows SET client = server, server = client, client_port = server_port, server_port = client_port,
       packets_c2s = packets_s2c, packets_s2c = packets_c2s, bytes_c2s = bytes_s2c, bytes_s2c = bytes_c2s,
       payload_c2s = payload_s2c, payload_s2c = payload_c2s, missing_c2s = missing_s2c, missing_s2c = missing_c2s,
       prefix_c2s = prefix_s2c, prefix_s2c = prefix_c2s, direction_by = 'rpc-endpoint',
       service = CASE WHEN via = 'port' THEN NULL ELSE service END, via = CASE WHEN via = 'port' THEN NULL ELSE via END
     WHERE id = ?`,
  );
  db.transaction(() =>
    changingFlows(db, ids, () => {
      for (const id of ids) turn.run(id);
    }),
  )();
  return ids.length;
}

/**
 * Names flows without a bind of their own from the registry, after a run's captures
 * are in: this run's flows against every usable endpoint, and earlier runs' flows
 * against this run's endpoints. Returns how many flows it named (their names changed or not).
 */
export function labelFlowsFromRegistry(db: Db, runId: number, decide: Decide, shared = false): number {
  // Not named by their own bind: no name, a port name, an earlier registry name, or
  // "a DCE/RPC header but no bind" (payload without an interface).
  const unbound = `(f.via IS NULL OR f.via = 'port' OR f.via_registry = 1 OR (f.via = 'payload' AND f.rpc_uuid IS NULL))`;
  const args = { run: runId, shared: shared ? 1 : 0 };
  // Each flow once (a join with the endpoints gave a flow once per sighting: ten days of one
  // endpoint made a day's 6,233 flows 810,590 rows), earlier runs' flows by this run's endpoints' keys.
  const ids = db
    .prepare(
      `SELECT f.id FROM flows f WHERE ${OF_RUN} AND ${unbound} AND ${endpointAt('f.server', 'f.server_port', EP_USABLE)}
       UNION
       SELECT f.id FROM ${OPEN_RUN_ENDPOINT_KEYS} k CROSS JOIN flows f INDEXED BY flows_server ON f.server = k.server AND f.transport = k.transport AND f.server_port = k.port
       WHERE ${FLOW_USABLE} AND ${unbound}
       ORDER BY 1`,
    )
    .pluck()
    .all(args) as number[];
  if (ids.length === 0) return 0;
  const flowById: Statement = db.prepare(
    `SELECT c.stream_id AS streamId, f.client, f.first_sec AS firstSec, f.first_nsec AS firstNsec, f.service, f.via, f.server, f.transport, f.server_port AS port,
       f.rpc_interface AS rpcInterface, f.rpc_uuid AS rpcUuid, f.rpc_note AS rpcNote, f.via_registry AS viaRegistry
     FROM flows f JOIN captures c ON c.id = f.capture_id WHERE f.id = ?`,
  );
  const endpointsOf: Statement = db.prepare(
    `SELECT c.stream_id AS streamId, e.uuid, e.source, e.first_sec AS sec, e.first_nsec AS nsec, e.client
     FROM rpc_endpoints e JOIN captures c ON c.id = e.capture_id
     WHERE e.server = @server AND e.transport = @transport AND e.port = @port AND ${EP_USABLE}`,
  );
  // An endpoint's candidates are the same for every flow to it: read once each.
  const candidates = new Map<string, EndpointCandidate[]>();
  const candidatesOf = (f: { server: string; transport: string; port: number }) => {
    const key = `${f.server}\0${f.transport}\0${f.port}`;
    let c = candidates.get(key);
    if (c === undefined) candidates.set(key, (c = endpointsOf.all({ server: f.server, transport: f.transport, port: f.port, ...args }) as EndpointCandidate[]));
    return c;
  };
  // Decided first; only the flows whose names change are written (and their rollups made again):
  // an earlier run's flows the registry named are asked again by each run, most to the same answer.
  const changes: { id: number; labels: FlowLabels }[] = [];
  let named = 0;
  for (const id of ids) {
    const f = flowById.get(id) as UnboundFlow & { server: string; transport: string; port: number; rpcInterface: string | null; rpcUuid: string | null; rpcNote: string | null; viaRegistry: number };
    const labels = decide(f, candidatesOf(f));
    if (!labels) continue;
    named++;
    const same = f.viaRegistry === 1 && f.service === labels.service && f.via === labels.via && f.rpcInterface === labels.rpcInterface && f.rpcUuid === labels.rpcUuid && f.rpcNote === labels.rpcNote;
    if (!same) changes.push({ id, labels });
  }
  const update: Statement = db.prepare(
    `UPDATE flows SET service = @service, via = @via, rpc_interface = @rpcInterface, rpc_uuid = @rpcUuid,
       rpc_note = @rpcNote, via_registry = 1 WHERE id = @id`,
  );
  db.transaction(() =>
    changingFlows(
      db,
      changes.map((c) => c.id),
      () => {
        for (const c of changes) update.run({ id: c.id, ...c.labels });
      },
    ),
  )();
  return named;
}
