// exflow as a library (package.json "main"): run the analysis of captures into a
// database, and read the reports back — what `exflow analyze` and the report commands
// do, without printing or exiting. Errors are thrown (StoreError, RulesError,
// RunBusy, StoreFault); warnings go to `onWarning`.
//
//   const exflow = require('exflow');
//   const run = await exflow.analyze(['capture.pcapng'], { db: 'audit.sqlite' });
//   const db = exflow.openDatabase('audit.sqlite');
//   for (const f of exflow.flows(db, { verdict: 'unexpected' })) console.log(f.client, f.server, f.service);
//   db.close();
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expandInputs } from './capture/inputs';
import { loadInventory } from './classify/inventory';
import { loadRulesCached, type RuleSet } from './rules/load';
import { Auditor, type AuditSummary } from './run/audit';
import { analyzeRun, type RunOutcome } from './run/analyze';
import { SILENT, type RunProgress } from './run/progress';
import { openDb, type Db } from './store/db';
import { DbFileIdentity } from './store/db-file';
import { accountRedactor } from './store/redact';
import { RunBusy, RunStore } from './store/runs';
import type { FlowFilter } from './report/filter';
import { queryFlows, type FlowQuery } from './report/flows';
import { iterateHosts } from './report/hosts';
import { hostStory, type HostStory } from './report/host';
import { summaryReport } from './report/summary';
import { rolesReport } from './report/role-traffic';
import { matrixReport } from './report/matrix';
import { encryptionReport, servicesReport, unexpectedReport } from './report/findings';
import { protectionReport } from './report/protection';
import { htmlReport } from './report/html';
import { exportFlows } from './report/export';
import type { Row } from './report/format';

export type { Db } from './store/db';
export type { FlowFilter } from './report/filter';
export type { Row } from './report/format';
export type { RunOutcome, CaptureOutcome } from './run/analyze';
export type { AuditSummary } from './run/audit';
export type { RunProgress } from './run/progress';
export type { HostStory } from './report/host';
export { StoreError } from './store/errors';
export { RulesError } from './rules/source';
export { RunBusy } from './store/runs';
export { StoreFault } from './run/analyze';

/** The version of exflow (package.json). */
export const VERSION: string = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version;

export interface AnalyzeOptions {
  /** The database to write (created if missing). */
  db: string;
  /** Extra rules folders, as `--rules`. */
  rules?: string[];
  /** An inventory file (YAML or CSV), as `--inventory`. */
  inventory?: string;
  /** Analyze captures the database already holds again, replacing the earlier run (`--force`). */
  force?: boolean;
  /** Each capture is its own stream (`--separate`). */
  separate?: boolean;
  /** Capture-time seconds of silence after which a flow is written out (default 900). */
  idleTimeout?: number;
  /** Flows held in memory at once (default 131072; shared out among the threads). */
  maxFlows?: number;
  /** Reading threads (default: one per core but one, for runs of 64 MiB or more, else one); results are those of one thread. */
  threads?: number;
  /** The sensor (capture point) the captures come from (default: this host's name). */
  sensor?: string;
  /** Hash every capture in full (`--sha256`). */
  sha256?: boolean;
  /** Store keyed hashes instead of account names (`--redact-accounts`); the key is this string, or a random one per run. */
  redactAccounts?: boolean | string;
  /** Warnings and notices, one line each (default: dropped; the result counts them per capture). */
  onWarning?: (line: string) => void;
  /** Progress as the run goes (default: none). */
  progress?: RunProgress;
  /** Aborting stops the run between chunks, as SIGINT does for the command (the run is then 'interrupted'). */
  signal?: AbortSignal;
}

export interface AnalyzeResult extends RunOutcome {
  /** Roles and verdicts after the run (null when the run was interrupted). */
  audit: AuditSummary | null;
  /** Inputs that named no file (or a pattern that matched nothing). */
  missing: string[];
}

/**
 * Analyzes captures (files, folders, glob patterns; not standard input) into a database
 * as one run, infers roles, judges every flow — `exflow analyze` without the printing.
 */
export async function analyze(inputs: string[], o: AnalyzeOptions): Promise<AnalyzeResult> {
  if (inputs.includes('-')) throw new Error('exflow.analyze reads files; standard input is for the command line');
  const rules = loadRulesCached(o.rules ?? [], VERSION);
  const inventory = o.inventory !== undefined ? loadInventory(o.inventory, rules) : null;
  const { inputs: found, missing } = expandInputs(inputs);
  const db = openDb(o.db, { create: true });
  const identity = new DbFileIdentity(o.db);
  let audit: AuditSummary | null = null;
  try {
    const other = new RunStore(db).activeWriter();
    if (other) throw new RunBusy(other);
    const auditor = new Auditor(db, rules, inventory);
    const redact = o.redactAccounts ? accountRedactor(typeof o.redactAccounts === 'string' ? o.redactAccounts : undefined) : undefined;
    const outcome = await analyzeRun(db, rules, found, {
      force: o.force ?? false,
      separate: o.separate ?? false,
      progress: o.progress ?? SILENT,
      idleTimeout: o.idleTimeout ?? 900,
      maxFlows: o.maxFlows ?? 131072,
      threads: o.threads,
      sensor: o.sensor,
      flushInterval: 60,
      sha256: o.sha256 ?? false,
      redactAccount: redact,
      audit: (runId) => {
        audit = auditor.finish(false, runId);
      },
      shouldStop: () => o.signal?.aborted === true,
      command: `exflow library analyze ${inputs.join(' ')}`,
      version: VERSION,
      warn: o.onWarning ?? (() => {}),
      dbChanged: () => identity.changed(),
    });
    return { ...outcome, audit, missing };
  } finally {
    db.close();
  }
}

/** Opens a database for the report functions (read-only unless `write`, for audit). */
export function openDatabase(file: string, o: { write?: boolean } = {}): Db {
  return o.write ? openDb(file, { create: false }) : openDb(file, { create: false, readonly: true });
}

/** Judges every flow again, e.g. with a corrected inventory or other rules — `exflow audit`. */
export function audit(db: Db, o: { inventory?: string; rules?: string[] } = {}): AuditSummary {
  const rules = loadRulesCached(o.rules ?? [], VERSION);
  return new Auditor(db, rules, o.inventory !== undefined ? loadInventory(o.inventory, rules) : null).finish(true);
}

/** The rules (shipped, plus extra folders), as the reports that need them take them. */
export function loadRules(extraDirs: string[] = []): RuleSet {
  return loadRulesCached(extraDirs, VERSION);
}

/** Flows one at a time, with the keys `exflow flows --format json` documents. */
export function flows(db: Db, q: FlowQuery = {}): Generator<Row> {
  return queryFlows(db, q);
}

/** Hosts one at a time, with the keys `exflow hosts --format json` documents. */
export function hosts(db: Db, q: { host?: string; role?: string } = {}): Generator<Row> {
  return iterateHosts(db, q);
}

/** One host's story — `exflow host ADDR`. */
export function host(db: Db, address: string, f: FlowFilter = {}, limit = 50): HostStory {
  return hostStory(db, address, f, limit, loadRules());
}

/** The reports, as `exflow report …` computes them (JSON shapes as the README documents). */
export const reports = {
  summary: (db: Db, f: FlowFilter = {}) => summaryReport(db, f),
  roles: (db: Db, f: FlowFilter = {}) => rolesReport(db, f),
  matrix: (db: Db, f: FlowFilter = {}, rules: RuleSet = loadRules()) => matrixReport(db, rules, f),
  unexpected: (db: Db, f: FlowFilter = {}) => unexpectedReport(db, f),
  encryption: (db: Db, f: FlowFilter = {}) => encryptionReport(db, f),
  services: (db: Db, f: FlowFilter = {}) => servicesReport(db, f),
  protection: (db: Db, f: FlowFilter = {}, rules: RuleSet = loadRules()) => protectionReport(db, rules, f),
  /** The self-contained HTML page. */
  html: (db: Db, f: FlowFilter = {}, title = 'exflow report', rules: RuleSet = loadRules()) => htmlReport(db, rules, f, title),
  /** Every flow as ECS NDJSON, a _bulk body or CSV, line by line to `write`. */
  export: (db: Db, write: (line: string) => void, format: 'ndjson' | 'bulk' | 'csv' = 'ndjson', f: FlowFilter = {}, rules: RuleSet = loadRules()) => exportFlows(db, rules, f, format, write),
};
