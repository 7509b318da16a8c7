import type { Statement } from 'better-sqlite3';
import type { FlowLabels } from '../classify/labels';
import { NO_PAYLOAD, type PayloadFacts } from '../classify/payload';
import type { FlowRecord } from '../flow/record';
import { NO_PROTECTION, type ProtectionFacts } from '../classify/protection';
import type { Db } from './db';
import { Rollups } from './rollups';

const BATCH = 5000;

/** The columns every flow has a value for (or a NULL that says something). */
const CORE = `capture_id, last_capture_id, transport, family, client, client_port, server, server_port, direction_by,
  first_sec, first_nsec, last_sec, last_nsec, packets_c2s, packets_s2c, bytes_c2s, bytes_s2c,
  payload_c2s, payload_s2c, missing_c2s, missing_s2c, tcp_state, vlan, tunnels,
  service, via, rpc_interface, rpc_uuid, rpc_note, inspected_bytes`;
const CORE_COUNT = 30;
/** What the payload inspectors learned and the unnamed flows' first bytes: NULL for most flows. */
const EXTRA = `prefix_c2s, prefix_s2c, tls, tls_version, tls_sni, tls_alpn, tls_subject, tls_issuer, tls_note, http_app, http_target, server_version, rpc_uuids, rpc_interfaces,
  auth_mech, auth_account, auth_workstation, ntlm_version, ntlm_mic, ntlm_channel_bindings, rpc_auth_level, rpc_auth_type,
  smb_dialect, smb_signing, smb_encrypted, smb1_offered, ldap_bind, ldap_protection, cleartext_credentials, tls_client_versions, kerberos_spn, protection`;
const EXTRA_COUNT = 32;
const EXTRA_COLUMNS = EXTRA.split(',').map((c) => c.trim());
/** Statements kept for sets of extra columns (each a prepared statement of SQLite's). */
const MAX_SHAPES = 256;
const marks = (n: number) => new Array(n).fill('?').join(', ');

/** Where a row holds auth_account (the 17th extra column). */
const ACCOUNT = CORE_COUNT + 15;
const WORKSTATION = ACCOUNT + 1;
const SPN = CORE_COUNT + EXTRA_COLUMNS.indexOf('kerberos_spn');
/** Where a row holds first_sec (first_nsec after it) and bytes_c2s (bytes_s2c after it). */
const CORE_NAMES = CORE.split(',').map((c) => c.trim());
const FIRST_SEC = CORE_NAMES.indexOf('first_sec');
const LAST_SEC = CORE_NAMES.indexOf('last_sec');
const BYTES_C2S = CORE_NAMES.indexOf('bytes_c2s');

/**
 * A flow's row, as FlowWriter inserts it: the core columns, and the extra ones only
 * for a flow with payload facts or a prefix worth keeping. Plain data, so that a
 * reading thread can make it and the thread that owns the database insert it.
 */
export function flowRow(captureId: number, lastCaptureId: number, f: FlowRecord, l: FlowLabels, p: PayloadFacts = NO_PAYLOAD, a: ProtectionFacts = NO_PROTECTION, findings: string[] = []): unknown[] {
  const row: unknown[] = [
    captureId, lastCaptureId, f.transport, f.family, f.client, f.clientPort, f.server, f.serverPort, f.directionBy,
    f.firstSec, f.firstNsec, f.lastSec, f.lastNsec, f.packetsC2S, f.packetsS2C, f.bytesC2S, f.bytesS2C,
    f.payloadC2S, f.payloadS2C, f.missingC2S, f.missingS2C, f.tcpState, f.vlan, f.tunnels,
    l.service, l.via, l.rpcInterface, l.rpcUuid, l.rpcNote, f.inspectedBytes,
  ];
  // The first payload bytes are kept for flows nothing could name — the evidence a
  // person needs to tell what they were; a named flow's prefix would only cost space.
  const keep = l.service === null && (f.prefixC2S.length > 0 || f.prefixS2C.length > 0);
  if (keep || p !== NO_PAYLOAD || l.rpcUuids !== undefined || a !== NO_PROTECTION) {
    const b = (v: boolean | null) => (v === null ? null : v ? 1 : 0);
    row.push(
      keep && f.prefixC2S.length > 0 ? Buffer.from(f.prefixC2S) : null,
      keep && f.prefixS2C.length > 0 ? Buffer.from(f.prefixS2C) : null,
      p.tls, p.tlsVersion, p.tlsSni, p.tlsAlpn, p.tlsSubject, p.tlsIssuer, p.tlsNote, p.httpApp, p.httpTarget, p.serverVersion,
      l.rpcUuids?.join(',') ?? null, l.rpcInterfaces?.join(',') ?? null,
      a.authMech, a.authAccount, a.authWorkstation, a.ntlmVersion, b(a.ntlmMic), b(a.ntlmChannelBindings), a.rpcAuthLevel, a.rpcAuthType,
      a.smbDialect, a.smbSigning, b(a.smbEncrypted), b(a.smb1Offered), a.ldapBind, a.ldapProtection, b(a.cleartextCredentials), a.tlsClientVersions, a.kerberosSpn,
      findings.length > 0 ? findings.join(',') : null,
    );
  }
  return row;
}

/**
 * Buffers flows and writes them in one transaction per batch with prepared
 * statements: row-at-a-time autocommit is four orders of magnitude slower.
 *
 * A flow's verdict is not written with it: it is its key's row in verdicts, joined in
 * by the views (src/store/schema.ts), so that the audit rewrites no flow.
 */
export class FlowWriter {
  /**
   * The core columns only, for a flow with no payload facts and no prefix kept — most
   * of them: binding a parameter costs about as much as SQLite's own work per column.
   */
  private readonly insertCore: Statement;
  /**
   * For the others, one statement per set of extra columns that hold a value: a TLS
   * flow fills 8 of the 32, and binding the 24 NULLs too cost ~10 µs a row (the
   * bench's mix, where most flows are inspected). Few sets occur; past MAX_SHAPES the
   * statement with every column serves.
   */
  private readonly byShape = new Map<number, Statement>();
  private readonly insertFull: Statement;
  private rows: unknown[][] = [];
  /** The run's rollup rows, added to at each commit (flush). */
  private readonly rollups: Rollups;
  /** The id of the last flow written. */
  private lastId: number | bigint = 0;
  written = 0;

  /**
   * @param o.runId the run whose flows these are (their rollup rows are its)
   * @param o.live a live run: its flows are visible as each batch commits, so each batch adds itself to the rollups
   * @param o.redactAccount what is stored for an account name (a keyed hash, --redact-accounts); default: the name
   */
  constructor(
    private readonly db: Db,
    private readonly o: { runId: number; live?: boolean; redactAccount?: (account: string) => string },
  ) {
    this.rollups = new Rollups(db, o.runId);
    this.insertCore = db.prepare(`INSERT INTO flows (${CORE}) VALUES (${marks(CORE_COUNT)})`);
    this.insertFull = db.prepare(`INSERT INTO flows (${CORE}, ${EXTRA}) VALUES (${marks(CORE_COUNT + EXTRA_COUNT)})`);
  }

  /** The statement for a full row and the values it binds. */
  private statementFor(r: unknown[]): [Statement, unknown[]] {
    let shape = 0;
    for (let i = 0; i < EXTRA_COUNT; i++) if (r[CORE_COUNT + i] !== null) shape |= 1 << i;
    let st = this.byShape.get(shape);
    if (!st) {
      if (this.byShape.size >= MAX_SHAPES) return [this.insertFull, r];
      const cols = EXTRA_COLUMNS.filter((_, i) => (shape & (1 << i)) !== 0);
      st = this.db.prepare(`INSERT INTO flows (${CORE}${cols.length ? ', ' + cols.join(', ') : ''}) VALUES (${marks(CORE_COUNT + cols.length)})`);
      this.byShape.set(shape, st);
    }
    const values = r.slice(0, CORE_COUNT);
    for (let i = 0; i < EXTRA_COUNT; i++) if ((shape & (1 << i)) !== 0) values.push(r[CORE_COUNT + i]);
    return [st, values];
  }

  /** `captureId`: the capture the flow began in; `lastCaptureId`: the last one it was seen in. */
  add(captureId: number, lastCaptureId: number, f: FlowRecord, l: FlowLabels, p: PayloadFacts = NO_PAYLOAD, a: ProtectionFacts = NO_PROTECTION, findings: string[] = []): void {
    this.addRow(flowRow(captureId, lastCaptureId, f, l, p, a, findings));
  }

  /** A row flowRow() made (perhaps in another thread, its capture ids set since). */
  addRow(row: unknown[]): void {
    const redact = this.o.redactAccount;
    if (redact) {
      // The account, and the workstation NTLM names beside it: both say who sat where.
      if (typeof row[ACCOUNT] === 'string') row[ACCOUNT] = redact(row[ACCOUNT] as string);
      if (typeof row[WORKSTATION] === 'string') row[WORKSTATION] = redact(row[WORKSTATION] as string);
      // A ticket asked for an account (user-to-user, S4U: "HOST$@REALM", no service class) names it.
      if (typeof row[SPN] === 'string' && !(row[SPN] as string).includes('/')) row[SPN] = redact(row[SPN] as string);
    }
    this.rows.push(row);
    if (this.rows.length >= BATCH) this.insert(this.o.live === true);
  }

  /** Rows waiting for the next batch. */
  get pending(): number {
    return this.rows.length;
  }

  /** Drops the rows not yet written (an input found to repeat an earlier one). */
  discard(): void {
    this.rows = [];
  }

  private insertExtra(r: unknown[]): number | bigint {
    const [st, values] = this.statementFor(r);
    return st.run(values).lastInsertRowid;
  }

  /** Writes what is left; returns the number of rows written in all. */
  close(): number {
    this.flush();
    return this.written;
  }

  /** Writes the rows waiting and adds every flow written to the rollups: what a commit makes visible is counted there too. */
  flush(): void {
    this.insert(true);
  }

  /** Writes the rows waiting; with `all`, adds the flows written since the last commit to the rollups. */
  private insert(all: boolean): void {
    const rows = this.rows;
    this.rows = [];
    const { insertCore, rollups } = this;
    this.db.transaction(() => {
      for (const r of rows) {
        this.lastId = r.length === CORE_COUNT ? insertCore.run(r).lastInsertRowid : this.insertExtra(r);
        rollups.written(r[FIRST_SEC] as number, r[FIRST_SEC + 1] as number, r[LAST_SEC] as number, r[LAST_SEC + 1] as number, (r[BYTES_C2S] as number) + (r[BYTES_C2S + 1] as number));
      }
      if (all) rollups.commit(Number(this.lastId));
    })();
    this.written += rows.length;
  }
}
