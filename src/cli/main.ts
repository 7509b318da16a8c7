#!/usr/bin/env node
import { Argument, Command, CommanderError, Option } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { escapeControls, FORMATS, render, renderJson, renderStream, setTableWidth, type Format, type Row } from '../report/format';
import { checkColumns, parseSort, rowView, setRowView, viewAsked, ViewError } from '../report/view';
import { COLUMN_DOC_COLUMNS, columnRows } from '../report/columns';
import { CAPTURE_TOOLS, CaptureProcess, findCaptureTool, INTERFACE_NAME, interfacePath, type CaptureTool } from '../capture/live';
import { rulesTables } from '../report/rules';
import { FLOW_COLUMNS, FLOW_TABLE_COLUMNS, queryFlows } from '../report/flows';
import { loadRules, loadRulesCached, type RuleSet } from '../rules/load';
import { RulesError } from '../rules/source';
import { openDb, StoreError, type Db, type OpenOptions } from '../store/db';
import type { FlowFilter } from '../report/filter';
import { DbFileIdentity } from '../store/db-file';
import { accountRedactor } from '../store/redact';
import { loadInventory } from '../classify/inventory';
import { HOST_COLUMNS, HOST_TABLE_COLUMNS, iterateHosts } from '../report/hosts';
import { queryRuns, RUN_COLUMNS, RUN_TABLE_COLUMNS } from '../report/runs';
import { RunBusy, RunStore } from '../store/runs';
// The analyzer and the capture readers are loaded by the commands that read captures (~90 ms a start of every other command).
import type { CaptureOutcome, RunOutcome } from '../run/analyze';
import { THREADS_FROM_BYTES } from '../run/thread-policy';
import { PhaseTimes, SILENT, type RunProgress } from '../run/progress';
import { Auditor, type AuditSummary } from '../run/audit';
import { bashCompletion, fishCompletion, manPage, zshCompletion } from './manpage';
import { print, startWithBom } from './out';
import { checkOutPath, formatForOut, openOutput, OUT_HELP } from './out-file';
import { judgementChanges, snapshotJudgement } from '../store/changes';
import { inventoryCsv, inventoryYaml } from '../report/inventory-out';
import { addEpmOptions, addFilterOptions, addReportCommands, checkFilterNames, epmAction, type EngineOpen, type EpmOptions, filterOf, type CommonOptions } from './report-commands';
import { Notices } from './notices';
import { addressOption, collect, dbOption, engineDbOption, nonNegativeInt, positiveInt, sensorName, threadCount, threadsFromEnv } from './options';
import { Exit, UserError } from './errors';
import { isClickHouse, parseTarget, TargetError } from '../store/clickhouse/target';
import { FLOW_CHUNK, MAX_SHIP_CHUNK } from '../store/clickhouse/chunk';
import { defaultShipThreads } from '../run/thread-policy';

const VERSION: string = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')).version;

/** One line (or a few) on stderr; control characters from file names or the wire are shown escaped. */
function stderr(line: string): void {
  process.stderr.write(line.split('\n').map(escapeControls).join('\n') + '\n');
}

// Rules and inventory problems (RulesError: file:line: what) are bad input, exit 2: main() maps them.
// Commands use the validated rules from the cache (keyed by the files' bytes); `rules check` reads the files.
const rulesFrom = (dirs: string[] | undefined): RuleSet => loadRulesCached(dirs ?? [], VERSION);

/** At most this many inventory disagreements are printed; `exflow hosts` lists them all. */
const MAX_NOTES = 20;

function auditNotes(a: AuditSummary, say: (line: string, kind?: string) => void = stderr): void {
  for (const s of a.stale) say(`exflow: warning: ${s}`);
  for (const d of a.disagreements.slice(0, MAX_NOTES)) say(`exflow: note: ${d}`, 'hosts where the traffic disagrees with the inventory');
  const more = a.disagreements.length - MAX_NOTES;
  if (more > 0) say(`exflow: note: … and ${more} more hosts where the traffic disagrees with the inventory (exflow hosts shows them in "disagreement")`);
}

function finishAudit(auditor: Auditor, all: boolean): AuditSummary {
  const a = auditor.finish(all);
  auditNotes(a);
  return a;
}

function auditLine(a: AuditSummary): string {
  const c = a.counts;
  return `exflow: roles for ${a.fromInventory + a.inferred} of ${a.hosts} hosts (${a.fromInventory} from the inventory, ${a.inferred} inferred); flows: ${c.expected} expected, ${c.unexpected} unexpected, ${c.unknown} unknown${c.encryption ? `; ${c.encryption} in clear where the tables say encrypted (exflow report encryption)` : ''}${a.protection ? `; ${a.protection} with protection findings (exflow report protection)` : ''}\n`;
}

/** Notes on an upgrade of an older database: what it does before (it may take minutes), how long after. */
function upgradeNotes(file: string): OpenOptions['onUpgrade'] {
  let started = 0;
  return (u) => {
    if (!u.done) {
      started = Date.now();
      stderr(`exflow: upgrading ${escapeControls(file)} from schema ${u.from} to ${u.to} (about ${u.flows.toLocaleString('en-US')} flows; it reads them once: up to ten seconds a million) ...`);
    } else stderr(`exflow: upgraded ${escapeControls(file)} to schema ${u.to} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  };
}

/** What answers from an engine (what writes a database needs a SQLite file). */
const ENGINE_REPORTS = 'the commands that read (flows, hosts, host, runs, epm, export and every report)';

/**
 * A ClickHouse engine as a database the reports read (src/run/engine.ts). With `o.window` (the
 * reports that read only the groups), --since/--until are answered from the engine's sums of the
 * window's flows; with `o.flows` (commands that read flows one by one, and --capture, --from-flows
 * anywhere), the flows the filter may pass are copied, its host names made addresses first.
 * `prepare` gives the filter the reports read the copy with.
 */
async function openEngine(url: string, f: FlowFilter, o: EngineOpen = {}): Promise<{ db: Db; file: string; close: () => void; prepare: (f: FlowFilter) => FlowFilter }> {
  const flows = o.flows === true || o.flows === 'all' || f.capture !== undefined || f.fromFlows === true;
  const timed = f.since !== undefined || f.until !== undefined;
  // A window read neither from sums nor from flows would be left out of the answer: a caller's mistake.
  if (timed && !o.window && !flows) throw new Error('a time window from an engine without its sums or flows');
  const { openEngineCopy, engineFilter } = await import('../run/engine');
  const { ClickHouseError } = await import('../store/clickhouse/http');
  try {
    // On a terminal, what the first report after a ship spends its seconds on (a line rewritten, then cleared).
    const busy = (what: string | null) => {
      if (process.stderr.isTTY) process.stderr.write(what === null ? '\r\x1b[K' : `\r\x1b[Kexflow: ${what}…`);
    };
    const e = await openEngineCopy(url, rulesFrom(undefined), VERSION, {
      note: (line) => stderr(escapeControls(line)),
      busy,
      // The flows' filter is answered by the flows copied: the window's sums are for the reports that read groups.
      window: timed && o.window && !flows ? { since: f.since, until: f.until } : null,
      flows: flows
        ? (copy) => {
            checkFilterNames(f, () => rulesFrom(undefined), copy);
            return f;
          }
        : undefined,
      allFlows: o.flows === 'all',
      firstFlows: o.firstFlows,
      timeline: o.timeline === true && !flows,
      beforeWindow: o.beforeWindow,
    });
    // A window over copied flows is answered from them (the copy's sums are of all time, without the
    // hours); with `window: 'sums'` (host, firewall: their reports make filters of their own from the
    // one asked) the copy's sums are the window's, and the filter is read without its times.
    const prepare = (asked: FlowFilter): FlowFilter =>
      flows && timed ? { ...engineFilter(e, asked), fromFlows: true } : o.window === 'sums' && timed ? { ...asked, since: undefined, until: undefined } : engineFilter(e, asked);
    return { db: e.db, file: e.file, close: () => e.close(), prepare };
  } catch (e) {
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    if (e instanceof TargetError) throw new UserError(`exflow: --db: ${e.message}`, Exit.Usage);
    if (e instanceof ClickHouseError) throw new UserError(`exflow: ${e.message}`, Exit.Database);
    throw e;
  }
}

/** The database --db names, to read: a SQLite file, or a ClickHouse engine's copy; `close` closes (and removes a copy). */
async function openForReading(file: string): Promise<{ db: Db; close: () => void }> {
  if (isClickHouse(file)) {
    const e = await openEngine(file, {});
    return { db: e.db, close: () => e.close() };
  }
  const db = openDbOrFail(file, 'read');
  return { db, close: () => db.close() };
}

/**
 * Opens the database: read-write for analyze and audit (`create` for analyze),
 * read-only for everything that only reads — which works beside a running analyze.
 */
function openDbOrFail(file: string, mode: 'create' | 'write' | 'read'): Db {
  // An engine's URL where a SQLite file is read or written: the commands that take one say so.
  if (isClickHouse(file)) throw new UserError(`exflow: ${escapeControls(file)}: this command needs a SQLite database (exflow merge makes one of several sensors'); from ClickHouse, ${ENGINE_REPORTS} answer (--db clickhouse://…)`, Exit.Usage);
  let db: Db;
  try {
    db = openDb(file, {
      create: mode === 'create',
      readonly: mode === 'read',
      onImmutable: (walPending) => {
        if (walPending) stderr(`exflow: note: ${escapeControls(file)} is read as it is (it cannot be written here); its -wal file holds changes not yet in it, which cannot be read without write access`);
      },
      onUpgrade: upgradeNotes(file),
    });
  } catch (e) {
    if (e instanceof StoreError) {
      const where = /no such database/.test(e.message) ? `; --db FILE or EXFLOW_DB names another${process.env.EXFLOW_DB ? ` (EXFLOW_DB is ${escapeControls(process.env.EXFLOW_DB)})` : ''}` : '';
      throw new UserError(`exflow: ${e.message}${where}`, Exit.Database);
    }
    throw e;
  }
  if (mode === 'read') {
    for (const r of new RunStore(db).deadRuns()) {
      stderr(`exflow: note: run ${r.id} (started ${r.started_at}) ended without finishing (killed?); nothing of it is shown; the next analyze removes its partial data`);
    }
  }
  return db;
}

/** Signals that stop an analyze at its next clean point; a second one ends it at once. */
function stopOnSignals(progress: () => RunProgress | null): { stopped: () => NodeJS.Signals | null; release: () => void } {
  let got: NodeJS.Signals | null = null;
  const on = (sig: NodeJS.Signals) => {
    if (got !== null) {
      progress()?.stop(); // no bar left behind on the terminal
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
    got = sig;
    const line = `exflow: ${sig}: stopping at the next clean point (again to quit at once)`;
    const p = progress();
    if (p?.log) p.log(line, stderr);
    else stderr(line);
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    stopped: () => got,
    release: () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}

/** What exflow rules show lists (its argument's words, offered by the completions). */
const RULE_SECTIONS = ['services', 'rpc', 'roles', 'matrix', 'http-apps', 'versions', 'protection'];

function formatOption(): Option {
  return new Option('--format <format>', 'output format').choices(FORMATS);
}

/**
 * A table on a terminal; tab-separated text when piped — text stays text in a pipe, as tshark's,
 * zeek-cut's and nfdump's does (| grep, | awk -F'\t', | sort); JSON when asked (--format json).
 */
function defaultFormat(f: string | undefined): Format {
  return (f as Format | undefined) ?? (process.stdout.isTTY ? 'table' : 'tsv');
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('exflow')
    .description('Exchange-aware flow analysis of packet captures: who talks to whom over which service, following the DCE/RPC endpoint mapper; results in SQLite.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    // Every error line starts "exflow:", commander's own (unknown option, missing argument) as exflow's.
    .configureOutput({ writeOut: print, writeErr: (s) => process.stderr.write(s), outputError: (s, write) => write(s.replace(/^error: /, 'exflow: ')) })
    .addHelpText(
      'after',
      `
Examples:
  exflow analyze span-port.pcapng --db audit.sqlite --inventory hosts.yaml
  exflow flows --db audit.sqlite --limit 20
  exflow report unexpected --db audit.sqlite
  exflow report html --db audit.sqlite --out report.html
  exflow export --db audit.sqlite > flows.ndjson

Exit codes: 0 done, 1 internal error, 2 bad input (capture, rules or inventory),
3 database problem, 64 usage error.`,
    );

  program
    .command('analyze')
    .description('read captures (pcap, pcapng, .gz; files, directories, globs or standard input) into a database of flows')
    .argument('[capture...]', 'capture files, directories (their capture files, recursively), globs (expanded by exflow), or - for standard input; the format is recognised by content, not by name')
    .option('-i, --interface <name>', 'capture on this network interface instead (live, as standard input is): exflow runs dumpcap or tcpdump, which hold the capture privileges')
    .addOption(new Option('--capture-tool <tool>', 'with --interface: the capture process (default: dumpcap if installed, else tcpdump)').choices(CAPTURE_TOOLS))
    .addOption(dbOption('to write'))
    .option('--rules <dir>', 'an extra rules folder (repeat for more): add or override services, roles, matrix', collect, [])
    .option('--force', 'analyze captures again even if the database already holds them (replaces the earlier run)', false)
    .option('--sha256', 'hash every capture in full (SHA-256 in captures.sha256, on the second core); without it a capture is known by its size, first and last MiB and first records', false)
    .option('--separate', 'each capture is its own stream (captures from different capture points); default: the files of a run are one stream in time order', false)
    .option('-q, --quiet', 'errors only: no progress bar, no summary, no warnings or notes (the captures\' warnings stay in the database: exflow report summary)', false)
    .option('-v, --verbose', 'every warning and note (without it, a few of each kind and a count of the rest)', false)
    .option('--idle-timeout <seconds>', 'capture-time seconds of silence after which a flow is written out', positiveInt('--idle-timeout'), 900)
    .option('--max-flows <n>', 'flows held in memory at once (memory stays flat; more are written out early; shared out among the threads)', positiveInt('--max-flows'), 131072)
    .option('--threads <n>', `reading threads, 1-64 (default: EXFLOW_THREADS, else one per core but the one that writes the database, for runs of ${THREADS_FROM_BYTES / 1048576} MiB or more — so one on two cores — and one below that); standard input is read by one`, threadCount('--threads'))
    .option('--sensor <name>', 'the sensor (capture point) these captures come from, kept with the run and in every export (default: this host\'s name)', sensorName('--sensor'))
    .option('--wait <seconds>', 'when another analyze is writing to the database, wait this long for it before giving up (exit 3)', nonNegativeInt('--wait'), 10)
    .option('--flush-interval <seconds>', 'live input (--interface, standard input, a FIFO): seconds between commits of the flows that ended', positiveInt('--flush-interval'), 60)
    .option('--inventory <file>', 'what you know about hosts: YAML or CSV of address/CIDR → roles, name, site, version (kept in the database for later runs)')
    .option('--redact-accounts', 'store a keyed hash (HMAC-SHA256, key from EXFLOW_REDACT_KEY, else a new random key per run) instead of each account name the audit reads', false)
    .option('--no-rpc', 'read no payload at all (no DCE/RPC, endpoint mapper, SMB, DCOM, TLS or HTTP inspection; flows named by port only) — to measure the inspectors\' cost')
    .addHelpText(
      'after',
      `
Examples:
  exflow analyze span-port.pcapng --db audit.sqlite
  exflow analyze ring/ --db audit.sqlite                 # a dumpcap/tcpdump ring buffer
  exflow analyze 'day1/*.pcap.gz' day2/ --db week.sqlite --quiet
  exflow analyze site-a.pcap site-b.pcap --separate      # two capture points
  exflow analyze --interface eth1 --db live.sqlite --flush-interval 10
  tcpdump -i eth1 -U -w - | exflow analyze - --db live.sqlite
  exflow analyze capture.pcap --db audit.sqlite --inventory hosts.yaml
  exflow analyze ring/ --threads 8                       # a sensor's cores

The files of one run are read in the order of their first packet, as one stream:
a connection that crosses files is one flow. Nothing of a run is shown by reports
until it completes; Ctrl-C stops a file run at a clean point (run the same command
again to analyze it). Standard input and --interface are live runs: the flows that
ended are committed every --flush-interval seconds, however quiet the input, and
Ctrl-C writes the rest and exits 0.
With threads, each reads every file and keeps a share of the flows (by a hash of
the 5-tuple, both directions alike); the results are those of one thread.

Exit codes: 0 done (damaged captures are kept up to the damage and marked
'truncated'); 2 a capture could not be read at all or rules are invalid;
3 database problem (another analyze still writing to it after --wait, not an
exflow database, disk full);
64 usage error; 130/143 a file run stopped by SIGINT/SIGTERM.`,
    )
    .action(async (args: string[], o: { db: string; rules?: string[]; inventory?: string; force: boolean; separate: boolean; quiet: boolean; verbose: boolean; idleTimeout: number; maxFlows: number; threads?: number; sensor?: string; flushInterval: number; wait: number; rpc: boolean; sha256: boolean; redactAccounts: boolean; interface?: string; captureTool?: CaptureTool }) => {
      if (o.interface === undefined && args.length === 0) throw new UserError('exflow: analyze needs captures (files, directories, globs, - for standard input) or --interface NAME', Exit.Usage);
      if (o.interface !== undefined && args.length > 0) throw new UserError('exflow: --interface reads one interface; captures cannot be added to that run (analyze them in a run of their own)', Exit.Usage);
      if (o.interface !== undefined && !INTERFACE_NAME.test(o.interface)) throw new UserError(`exflow: --interface takes an interface name (letters, digits, . _ : @ -), not ${JSON.stringify(escapeControls(o.interface))}`, Exit.Usage);
      if (o.captureTool !== undefined && o.interface === undefined) throw new UserError('exflow: --capture-tool is for --interface', Exit.Usage);
      const rules = rulesFrom(o.rules);
      const inventory = o.inventory !== undefined ? loadInventory(o.inventory, rules) : null;
      const { expandInputs } = await import('../capture/inputs');
      const { analyzeRun, StoreFault } = await import('../run/analyze');
      let capture: CaptureProcess | null = null;
      if (o.interface !== undefined) {
        const tool = o.captureTool ?? findCaptureTool();
        if (tool === null) throw new UserError('exflow: --interface needs dumpcap (Debian: apt-get install wireshark-common) or tcpdump on PATH', Exit.Usage);
        capture = new CaptureProcess(tool, o.interface);
      }
      const live = capture ? { path: interfacePath(capture.iface), stream: capture.stream } : undefined;
      const { inputs, missing, empty } = live ? { inputs: [{ path: live.path, found: false }], missing: [], empty: [] } : expandInputs(args);
      for (const m of missing) stderr(`exflow: ${escapeControls(m)}: no such file${/[*?[]/.test(m) ? ' (the pattern matched nothing)' : ''}`);
      for (const d of empty) stderr(`exflow: ${escapeControls(d)}: an empty directory, no capture in it`);
      if (inputs.filter((i) => i.path === '-').length > 0 && inputs.length > 1) {
        throw new UserError('exflow: - (standard input) cannot be mixed with files in one run; analyze them in two runs', Exit.Usage);
      }
      if (inputs.length === 0) {
        process.exitCode = Exit.BadInput;
        return;
      }
      // A database this run creates is removed again if no capture could be read at all:
      // a typo or a wrong file leaves no empty exflow.sqlite behind.
      const created = !fs.existsSync(o.db);
      const db = openDbOrFail(o.db, 'create');
      const identity = new DbFileIdentity(o.db);
      const t0 = process.hrtime.bigint();
      let phases: PhaseTimes | null = null;
      let notices = new Notices(o.verbose ? 'verbose' : o.quiet ? 'quiet' : 'normal', stderr);
      const signals = stopOnSignals(() => phases);
      let outcome: RunOutcome;
      let audit: AuditSummary | null = null;
      try {
        // Before the inventory is stored: a writer already at work is not disturbed (the
        // check that counts is atomic with the new run's row, in analyzeRun).
        let other = new RunStore(db).activeWriter();
        for (const until = Date.now() + o.wait * 1000; other && Date.now() < until; other = new RunStore(db).activeWriter()) {
          await new Promise((r) => setTimeout(r, 250));
        }
        if (other) throw new RunBusy(other);
        const auditor = new Auditor(db, rules, inventory);
        // cli-progress is loaded only where a bar is drawn (every command pays its modules' loading).
        phases = new PhaseTimes(!o.quiet && process.stderr.isTTY === true ? new (await import('./progress')).TerminalProgress() : SILENT);
        const bar = phases;
        notices = new Notices(o.verbose ? 'verbose' : o.quiet ? 'quiet' : 'normal', (line) => bar.log(line, stderr));
        outcome = await analyzeRun(db, rules, inputs, {
          force: o.force,
          separate: o.separate,
          progress: phases,
          idleTimeout: o.idleTimeout,
          maxFlows: o.maxFlows,
          threads: o.threads ?? threadsFromEnv(),
          sensor: o.sensor,
          flushInterval: o.flushInterval,
          sha256: o.sha256,
          rpc: o.rpc,
          redactAccount: o.redactAccounts ? accountRedactor(process.env.EXFLOW_REDACT_KEY) : undefined,
          audit: (runId) => {
            audit = auditor.finish(false, runId);
          },
          shouldStop: () => signals.stopped() !== null,
          command: ['exflow', ...process.argv.slice(2)].join(' '),
          version: VERSION,
          warn: (line, kind) => notices.line(line, kind),
          dbChanged: () => identity.changed(),
          live,
        });
      } catch (e) {
        if (e instanceof RunBusy) throw new UserError(`exflow: ${o.db}: ${e.message}; wait for it to finish or stop it`, Exit.Database);
        if (!(e instanceof StoreFault)) throw e;
        const left = e.notTried.length ? `; not tried: ${e.notTried.map(escapeControls).join(', ')}` : '';
        throw new UserError(`exflow: ${o.db}: ${e.reason}; the run stopped and nothing of it is shown${left}`, Exit.Database);
      } finally {
        signals.release();
        db.close();
        capture?.stop();
      }
      notices.finish();
      // The capture process's own failure (no such interface, no permission) is the run's: exit 2 with its reason.
      // After Ctrl-C (which a terminal sends the capture process too) its exit says nothing about the capture.
      const failed = capture && signals.stopped() === null ? await capture.failure() : null;
      if (failed !== null) {
        stderr(`exflow: interface ${escapeControls(capture!.iface)}: ${escapeControls(failed)}`);
        process.exitCode = Exit.BadInput;
      }
      const outcomes: CaptureOutcome[] = outcome.captures;
      if (outcome.status === 'interrupted') {
        const sig = signals.stopped() ?? 'SIGINT';
        stderr(`exflow: interrupted by ${sig}: run ${outcome.runId} stopped at a clean point; reports show nothing of it; run the same command again to analyze it`);
        process.exitCode = sig === 'SIGTERM' ? 143 : 130;
        return;
      }
      // Nothing was a capture (every file failed, or a directory held only other files): exit 2,
      // and a database this run created is not left behind empty.
      const noCapture = outcomes.every((x) => x.status === 'failed' || x.notCapture === true);
      if (noCapture && outcomes.some((x) => x.notCapture)) {
        const dirs = args.filter((a) => a !== '-' && fs.existsSync(a) && fs.statSync(a).isDirectory());
        const n = outcomes.filter((x) => x.notCapture).length;
        stderr(`exflow: ${dirs.length ? dirs.map(escapeControls).join(', ') + ': ' : ''}no capture among ${n} file${n === 1 ? '' : 's'}; nothing analyzed`);
      }
      if (noCapture) {
        if (created) for (const suffix of ['', '-wal', '-shm', '-journal']) fs.rmSync(o.db + suffix, { force: true });
        process.exitCode = Exit.BadInput;
        return;
      }
      if (audit) {
        auditNotes(audit, (line, kind) => notices.line(line, kind));
        if (!o.quiet) print(auditLine(audit));
      }
      notices.finish();
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      const done = outcomes.filter((x) => x.status === 'ok' || x.status === 'truncated');
      const count = (st: string) => outcomes.filter((x) => x.status === st).length;
      const packets = done.reduce((a, x) => a + x.packets, 0);
      const warnings = done.reduce((a, x) => a + x.warnings, 0);
      if (!o.quiet) {
        const parts = [
          `${done.length} capture${done.length === 1 ? '' : 's'} analyzed`,
          count('truncated') ? `${count('truncated')} truncated` : '',
          count('skipped') ? `${count('skipped')} skipped` : '',
          count('failed') + missing.length ? `${count('failed') + missing.length} failed` : '',
          `${packets} packets`,
          `${outcome.flows} flow${outcome.flows === 1 ? '' : 's'}`,
          `${warnings} warning${warnings === 1 ? '' : 's'}`,
          `${secs.toFixed(2)} s`,
          `${secs > 0 ? Math.round(packets / secs) : 0} packets/s`,
          outcome.threads > 1 ? `${outcome.threads} threads` : '',
        ].filter(Boolean);
        if (outcome.reordered && done.length > 1) print('exflow: files read in the order of their first packets, which differs from their names\' order\n');
        print(`exflow: ${parts.join(', ')} → ${o.db}\n`);
      }
      if (process.env.EXFLOW_PHASES && phases) stderr(`exflow: phases: ${phases.summary()}`);
      if (count('failed') > 0 || missing.length > 0) process.exitCode = Exit.BadInput;
    });

  const flowsCmd = program
    .command('flows')
    .description('list flows from the database, one row per flow')
    .addOption(engineDbOption('to read'))
    .addOption(formatOption())
    .option('--out <file>', OUT_HELP);
  addFilterOptions(flowsCmd)
    .addHelpText(
      'after',
      `
Examples:
  exflow flows --db audit.sqlite --limit 20
  exflow flows --db audit.sqlite --format csv > flows.csv
  exflow flows --db audit.sqlite --format json | jq '.[] | select(.service == null)'
  exflow flows --db audit.sqlite --host 10.77.0.20 --verdict unexpected
  exflow flows --db audit.sqlite --server 10.10.0.0/16 --service mapi-rpc --since 2026-01-15T09:00:00Z

JSON keys: capture, transport, client, client_port, server, server_port,
first_seen, last_seen (ISO 8601 UTC, microseconds), duration (seconds), packets, bytes, service, via
("port", "epm", "bind", "payload" or null), rpc_interface, rpc_uuid, and more.`,
    )
    .action(async (o: CommonOptions & { limit?: number; sort?: string }) => {
      const filter = filterOf(o);
      const engine = isClickHouse(o.db);
      if (o.out !== undefined) checkOutPath(o.out, engine ? null : o.db);
      // --limit without --sort: the first flows only (from an engine, the captures that hold them).
      const first = o.sort === undefined ? o.limit : undefined;
      const source = engine ? await openEngine(o.db, filter, { flows: true, firstFlows: first }) : null;
      const db = source?.db ?? openDbOrFail(o.db, 'read');
      const close = () => (source ? source.close() : db.close());
      let out: ReturnType<typeof openOutput>;
      try {
        out = openOutput(o.out);
      } catch (e) {
        close(); // an engine's copy made for this command goes with it
        throw e;
      }
      try {
        checkFilterNames(filter, () => rulesFrom(undefined), db);
        const format = formatForOut(o.format, o.out, () => defaultFormat(undefined));
        // --limit without --sort: the first flows, read no further; with it, the best of all (view.ts keeps them as they pass).
        renderStream(queryFlows(db, { ...filter, limit: first }), format === 'table' ? FLOW_TABLE_COLUMNS : FLOW_COLUMNS, format, out.write);
        out.finish();
      } catch (e) {
        out.abandon();
        throw e;
      } finally {
        close();
      }
    });

  program
    .command('audit')
    .description('give every host its roles and every flow its verdict again (after changing the inventory or the rules)')
    .addOption(dbOption('to update'))
    .option('--rules <dir>', 'an extra rules folder (repeat for more): adds to or overrides the shipped rules', collect, [])
    .option('--inventory <file>', 'a new inventory (YAML or CSV); without it, the one stored by an earlier run is used')
    .addHelpText(
      'after',
      `
Examples:
  exflow audit --db audit.sqlite --inventory hosts.yaml
  exflow audit --db audit.sqlite --rules ./site-rules

Verdicts: expected (a matrix rule allows the service between the two roles; rule
names it), unexpected (both roles known, no rule allows it; reason says what the
matrix allows), unknown (a host has no role: not in the inventory, nothing inferred).`,
    )
    .action((o: { db: string; rules?: string[]; inventory?: string }) => {
      const rules = rulesFrom(o.rules);
      const inventory = o.inventory !== undefined ? loadInventory(o.inventory, rules) : null;
      const db = openDbOrFail(o.db, 'write');
      try {
        snapshotJudgement(db);
        print(auditLine(finishAudit(new Auditor(db, rules, inventory), true)));
        const ch = judgementChanges(db);
        if (ch.rolesTotal === 0 && ch.flowsTotal === 0) print('exflow: no role and no verdict changed\n');
        if (ch.rolesTotal > 0) {
          print(`\nRoles that changed (${ch.rolesTotal} host${ch.rolesTotal === 1 ? '' : 's'})\n`);
          print(render(ch.roles as unknown as Row[], ['address', 'before', 'after', 'source'], 'table'));
        }
        if (ch.flowsTotal > 0) {
          print(`\nVerdicts that changed (${ch.flowsTotal} flow${ch.flowsTotal === 1 ? '' : 's'})\n`);
          print(render(ch.verdicts as unknown as Row[], ['before', 'after', 'client_role', 'server_role', 'service', 'flows'], 'table'));
        }
      } finally {
        db.close();
      }
    });

  program
    .command('man')
    .description('print the man page (roff), made from every command\'s --help')
    .addHelpText('after', '\nExamples:\n  exflow man > exflow.1 && man -l exflow.1\n  exflow man | man -l -\n\nnpm install -g installs it as man exflow (package.json "man").')
    .action(() => print(manPage(program, VERSION, '')));

  program
    .command('completion')
    .description('print shell completion (commands, options, their choices, exflow\'s own words) for bash, zsh or fish')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(['bash', 'zsh', 'fish']))
    .addHelpText(
      'after',
      `
Examples:
  exflow completion bash > ~/.local/share/bash-completion/completions/exflow
  exflow completion zsh > "\${fpath[1]}/_exflow"
  exflow completion fish > ~/.config/fish/completions/exflow.fish
  source <(exflow completion bash)                 # this shell only`,
    )
    .action((shell: 'bash' | 'zsh' | 'fish') => print(shell === 'bash' ? bashCompletion(program) : shell === 'zsh' ? zshCompletion(program) : fishCompletion(program)));

  program
    .command('merge')
    .description('bring the finished runs of other exflow databases (other sensors) into this one, to report once')
    .argument('<database...>', 'exflow databases to merge in (read, never written; an older schema is read through an upgraded copy)')
    .addOption(dbOption('to merge into (created if missing)'))
    .option('--rules <dir>', 'an extra rules folder (repeat for more), for the audit after the merge', collect, [])
    .option('--shared-registry', 'name every run\'s flows from every sensor\'s endpoint registry (default: each sensor\'s stays its own)', false)
    .addHelpText(
      'after',
      `
Examples:
  exflow merge site-a.sqlite site-b.sqlite --db org.sqlite
  exflow merge sensor-*.sqlite --db org.sqlite --shared-registry

Only complete runs are copied; one still running is merged by a later merge, once
complete. A run already here (its identity, made when it began) is skipped, so a
merge can be repeated as the sensors' databases grow. The sources are only read
(attached read-only; one of an older schema is copied and the copy upgraded).
Inventory entries for addresses this database does not list are taken over, marked
"merged from SENSOR"; an address listed with other roles keeps this database's
entry and is warned about. Hosts and verdicts are made again from all flows. Runs keep their sensor (analyze --sensor): --sensor filters
every report by it. Exit codes: 0 merged; 3 a database is not one exflow can read
(nothing is merged then), or another analyze is writing to --db; 64 usage.`,
    )
    .action(async (others: string[], o: { db: string; rules?: string[]; sharedRegistry: boolean }) => {
      const { mergeDatabases } = await import('../run/merge');
      const rules = rulesFrom(o.rules);
      const db = openDbOrFail(o.db, 'create');
      let summary: AuditSummary | null = null;
      try {
        const outcomes = mergeDatabases(db, o.db, rules, others, {
          sharedRegistry: o.sharedRegistry,
          audit: () => {
            summary = finishAudit(new Auditor(db, rules, null), true);
          },
        });
        for (const m of outcomes) {
          const flows = m.merged.reduce((a, r) => a + r.flows, 0);
          const caps = m.merged.reduce((a, r) => a + r.captures, 0);
          const sensors = [...new Set(m.merged.map((r) => r.sensor ?? '(none)'))];
          print(`exflow: ${escapeControls(m.path)}: ${m.merged.length} run${m.merged.length === 1 ? '' : 's'} merged (${caps} capture${caps === 1 ? '' : 's'}, ${flows} flow${flows === 1 ? '' : 's'}${sensors.length ? `; sensor ${sensors.map(escapeControls).join(', ')}` : ''})${m.skipped.length ? `; ${m.skipped.length} already here (${m.skipped.map((s) => `run ${s.from} is run ${s.sameAs}`).join(', ')})` : ''}${m.inventory ? `; ${m.inventory} inventory entries taken over` : ''}${m.replaced.length ? `; ${m.replaced.length} run${m.replaced.length === 1 ? '' : 's'} copied before they were complete replaced by the whole run` : ''}\n`);
          if (m.pending.length) print(`exflow: ${escapeControls(m.path)}: ${m.pending.map((p) => `run ${p.from}`).join(', ')} not finished there (${[...new Set(m.pending.map((p) => p.status))].join(', ')}); merged by a later merge, once complete\n`);
          if (m.disagree.length) stderr(`exflow: warning: ${escapeControls(m.path)}: its inventory gives other roles to ${m.disagree.slice(0, 5).map(escapeControls).join(', ')}${m.disagree.length > 5 ? ` and ${m.disagree.length - 5} more` : ''}; this database's entries are kept (exflow hosts shows each host's role source)`);
        }
        if (summary) print(auditLine(summary));
      } catch (e) {
        if (e instanceof StoreError) throw new UserError(`exflow: ${e.message}`, Exit.Database);
        if (e instanceof RunBusy) throw new UserError(`exflow: ${o.db}: ${e.message}; wait for it to finish`, Exit.Database);
        throw e;
      } finally {
        db.close();
      }
    });

  program
    .command('ship')
    .description('send the finished runs of a sensor\'s database to a ClickHouse engine, each once and whole')
    .addOption(dbOption('to send from (only read)'))
    .requiredOption('--to <url>', 'the engine: clickhouse://HOST[:PORT]/DATABASE (HTTP interface, port 8123), or https://HOST[:PORT]/DATABASE; repeated, the shards of a cluster (each run whole on one)', collect, [])
    .option('--chunk <flows>', `flows an insert sends (at most ${MAX_SHIP_CHUNK}: one block for ClickHouse, kept whole or not at all)`, positiveInt('--chunk'), FLOW_CHUNK)
    .addHelpText(
      'after',
      `
Examples:
  exflow ship --db sensor-a.sqlite --to clickhouse://127.0.0.1:8123/exflow
  CLICKHOUSE_USER=exflow CLICKHOUSE_PASSWORD=… exflow ship --db sensor-b.sqlite --to https://ch.example.org/exflow
  exflow ship --db sensor-c.sqlite --to clickhouse://ch1:8123/exflow --to clickhouse://ch2:8123/exflow

Each complete run not in the engine yet is sent: its captures, flows, endpoint registry
and names, and its own row last — a run is in the engine once its row is. A run still
running is sent by a later ship, once complete (its flows are renamed until it ends).
With several --to (the shards of a cluster), each run goes whole to one: the one its
identity hashes to, or the one an earlier, stopped ship of it began on. A ship stopped
part-way (killed, the server gone) carries on where it stopped when started again:
nothing is sent twice or lost. The database is only read (DATABASE.ship-lock beside it
says a ship is running: a second ship of it stops). Credentials come from
CLICKHOUSE_USER and CLICKHOUSE_PASSWORD (never the command line). Exit codes: 0
shipped (or nothing to ship); 3 the database cannot be read or another ship is sending
it, or the engine is down, refuses, or holds tables of another exflow version; 64 usage.`,
    )
    .addOption(new Option('--threads <n>', 'threads that read and encode the flows beside the one that sends (0: that one reads them too)').argParser(nonNegativeInt('--threads')).default(defaultShipThreads(), 'two, or one on one core'))
    .action(async (o: { db: string; to: string[]; chunk: number; threads: number }) => {
      const { shipDatabase, ShipError } = await import('../run/ship');
      if (o.to.length === 0) throw new UserError("exflow: ship: --to names the engine (clickhouse://HOST:PORT/DATABASE)", Exit.Usage);
      for (const to of o.to) {
        try {
          parseTarget(to);
        } catch (e) {
          if (e instanceof TargetError) throw new UserError(`exflow: --to ${e.message}`, Exit.Usage);
          throw e;
        }
      }
      if (o.chunk > MAX_SHIP_CHUNK) throw new UserError(`exflow: --chunk ${o.chunk}: at most ${MAX_SHIP_CHUNK} flows an insert (ClickHouse keeps a larger insert in parts, not whole or not at all)`, Exit.Usage);
      const db = openDbOrFail(o.db, 'read');
      try {
        const r = await shipDatabase(db, o.db, o.to, {
          chunkRows: o.chunk,
          threads: o.threads,
          onProgress: (p) => {
            if (p.table === 'flows' && process.stderr.isTTY) process.stderr.write(`\rexflow: run ${p.run}: ${p.rows} of ${p.total} flows sent`);
          },
        });
        if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
        const flows = r.shipped.reduce((a, x) => a + x.flows, 0);
        const resumed = r.shipped.filter((x) => x.resumedAfter > 0);
        print(`exflow: ${r.shipped.length} run${r.shipped.length === 1 ? '' : 's'} shipped (${flows} flow${flows === 1 ? '' : 's'})${resumed.length ? `, ${resumed.length} carried on from an earlier ship` : ''}${r.already.length ? `; ${r.already.length} already there` : ''} → ${o.to.map(escapeControls).join(', ')}${o.to.length > 1 ? ` (${o.to.length} shards)` : ''}\n`);
        if (r.completed.length) print(`exflow: ${r.completed.map((c) => `run ${c.id}`).join(', ')} was in the engine without ${[...new Set(r.completed.flatMap((c) => c.tables))].join(', ')} (shipped by an earlier exflow): completed\n`);
        if (r.pending.length) print(`exflow: ${r.pending.map((p) => `run ${p.id}`).join(', ')} not finished (${[...new Set(r.pending.map((p) => p.status))].join(', ')}); shipped by a later ship, once complete\n`);
      } catch (e) {
        if (e instanceof ShipError) throw new UserError(`exflow: ${e.message}`, Exit.Database);
        throw e;
      } finally {
        db.close();
      }
    });

  program
    .command('hosts')
    .description('list hosts with their roles, where each role came from, and what they serve and use')
    .addOption(engineDbOption('to read'))
    .addOption(new Option('--format <format>', 'output format; inventory (YAML) and inventory-csv write what --inventory reads back').choices([...FORMATS, 'inventory', 'inventory-csv']))
    .option('--host <addr|cidr|name>', 'only this address (or the host of this name), or the hosts in this block')
    .option('--role <id>', 'only hosts with this role')
    .option('--out <file>', `${OUT_HELP} (a name ending in .yaml writes the inventory form)`)
    .addHelpText(
      'after',
      `
Examples:
  exflow hosts --db audit.sqlite
  exflow hosts --db audit.sqlite --format json | jq '.[] | select(.disagreement != null)'
  exflow hosts --db audit.sqlite --format inventory > hosts.yaml   # edit, then:
  exflow audit --db audit.sqlite --inventory hosts.yaml

--format inventory writes an inventory --inventory reads back as it is: the roles
from the inventory and those inferred with high confidence as entries (an inferred
one under a comment with its evidence), the others commented out with their
evidence — remove the "# " before an entry's lines to confirm it, or correct it.
--format inventory-csv writes the same as CSV (a row to confirm behind "# ").

JSON keys: address, name, name_source, name_shared (other hosts of that name), roles,
role_source (inventory or inferred), confidence,
evidence, serves, uses, site, version, first_seen, last_seen, disagreement.`,
    )
    .action(async (o: { db: string; format?: string; host?: string; role?: string; out?: string }) => {
      const q = { host: addressOption('--host', o.host), role: o.role };
      if (o.out !== undefined) checkOutPath(o.out, isClickHouse(o.db) ? null : o.db);
      const source = await openForReading(o.db);
      const db = source.db;
      const out = openOutput(o.out);
      try {
        checkFilterNames(q, () => rulesFrom(undefined), db);
        // Streamed: a database may hold millions of hosts.
        const hosts = () => iterateHosts(db, q);
        const format = formatForOut(o.format, o.out, () => defaultFormat(undefined), { yaml: 'inventory', yml: 'inventory' } as Record<string, string>);
        // An inventory is a file --inventory reads back whole: its shape is not the view's to change.
        if ((format === 'inventory' || format === 'inventory-csv') && viewAsked()) throw new UserError(`exflow: --columns, --sort and --limit do not apply to --format ${format} (an inventory is written whole, for --inventory to read back)`, Exit.Usage);
        if (format === 'inventory') inventoryYaml(hosts, `exflow inventory from ${o.db} (exflow hosts --format inventory)`, out.write);
        else if (format === 'inventory-csv') inventoryCsv(hosts(), out.write);
        else renderStream(hosts(), format === 'table' ? HOST_TABLE_COLUMNS : HOST_COLUMNS, format as Format, out.write);
        out.finish();
      } catch (e) {
        out.abandon();
        throw e;
      } finally {
        source.close();
      }
    });

  program
    .command('runs')
    .description('list analyze runs: when, what they read, and whether they finished (only complete runs are in reports)')
    .addOption(engineDbOption('to read'))
    .addOption(formatOption())
    .addHelpText(
      'after',
      `
Examples:
  exflow runs --db audit.sqlite
  exflow runs --db audit.sqlite --format json | jq '.[] | select(.status != "complete")'

Status: running (an analyze is writing it now), complete (its flows are in every
report), interrupted (stopped by Ctrl-C/SIGTERM; nothing shown), dead (its process
ended without finishing; nothing shown), replaced (by a later --force run).
Partial data of interrupted and dead runs is removed by the next analyze.
JSON keys: run, status, started_at, finished_at, live, separate, captures,
packets, flows, command, note.`,
    )
    .action(async (o: { db: string; format?: string }) => {
      const source = await openForReading(o.db);
      const db = source.db;
      try {
        const format = defaultFormat(o.format);
        // A run left 'running' by a process that is gone is shown as what it is (the next analyze records it).
        const dead = new Set(new RunStore(db).deadRuns().map((r) => r.id));
        const rows = queryRuns(db).map((r) => (dead.has(r.run as number) ? { ...r, status: 'dead' } : r));
        print(render(rows, format === 'table' ? RUN_TABLE_COLUMNS : RUN_COLUMNS, format));
      } finally {
        source.close();
      }
    });

  addReportCommands(program, { openDb: (f) => openDbOrFail(f, 'read'), openEngine: openEngine, loadRules: rulesFrom, defaultFormat });

  program
    .command('columns')
    .description('every column of a flow (flows, export --format csv, JSON): what it means and where exflow reads it from')
    .addOption(formatOption())
    .addHelpText('after', '\nExamples:\n  exflow columns\n  exflow columns --format md     # docs/columns.md is this\n  exflow flows --columns client,server,service,verdict,reason')
    .action((o: { format?: string }) => {
      const format = defaultFormat(o.format);
      // In Markdown, the page docs/columns.md is (npm run generated writes it from this).
      const head = format === 'md' ? '# Flow columns\n\nEvery column of a flow as `exflow flows`, `export --format csv` and the JSON outputs write it: what it means and where exflow reads it from. Generated from `exflow columns --format md` (src/report/columns.ts) by `npm run generated`; a test keeps this page and the command equal.\n\n' : '';
      print(head + render(columnRows(), COLUMN_DOC_COLUMNS, format));
    });

  const rulesCmd = program.command('rules').description('check and show the protocol knowledge exflow uses (rules/*.yaml)');
  rulesCmd
    .command('check')
    .description('validate the shipped rules, plus a folder of your own on top of them')
    .argument('[dir...]', 'extra rules folders, as given to analyze --rules')
    .addHelpText(
      'after',
      `
Examples:
  exflow rules check
  exflow rules check ./site-rules

Prints what was loaded; a problem is reported as file:line: what is wrong, exit 2.`,
    )
    .action((dirs: string[]) => {
      const rules = loadRules(dirs ?? []);
      print(
        `exflow: rules ok: ${rules.files.length} files (${rules.files.map((f) => path.relative(process.cwd(), f)).join(', ')}): ` +
          `${rules.services.length} services, ${rules.rpcInterfaces.size} RPC interfaces, ${rules.roles.size} roles, ${rules.matrix.length} matrix rules\n`,
      );
    });
  rulesCmd
    .command('show')
    .description('print services, RPC interfaces, roles, the role×role matrix, HTTP applications, Exchange versions and protection findings')
    .addArgument(new Argument('[section]', 'services, rpc, roles, matrix, http-apps, versions or protection (default: all)').choices(RULE_SECTIONS))
    .option('--rules <dir>', 'an extra rules folder (repeat for more): adds to or overrides the shipped rules', collect, [])
    .addOption(formatOption())
    .addHelpText(
      'after',
      `
Examples:
  exflow rules show matrix
  exflow rules show services --format csv
  exflow rules show roles --rules ./site-rules
  exflow rules show protection`,
    )
    .action((section: string | undefined, o: { rules?: string[]; format?: string }) => {
      const rules = rulesFrom(o.rules);
      const format = defaultFormat(o.format);
      const parts = rulesTables(rules).filter((t) => section === undefined || t.section === section);
      if (format === 'json') {
        print(renderJson(Object.fromEntries(parts.map((t) => [t.section, t.rows])), 'rules show'));
        return;
      }
      checkColumns(parts.flatMap((t) => t.columns), rowView(), 'rules show');
      for (const t of parts) {
        if (parts.length > 1) print(`${format === 'table' ? '' : '# '}${t.title}\n`);
        print(render(t.rows, t.columns, format, parts.length > 1));
        if (parts.length > 1) print('\n');
      }
    });

  addEpmOptions(program.command('epm').description('list the DCE/RPC endpoint registry: which interface lives on which server port, and how exflow learned it'))
    .addHelpText(
      'after',
      `
Examples:
  exflow epm --db audit.sqlite
  exflow epm --db audit.sqlite --source ept_map --format json
  exflow epm --db audit.sqlite --server 10.10.0.0/16 --since 2026-01-15T09:00:00Z
  exflow epm --db audit.sqlite --format csv > endpoints.csv

Sources: ept_map (the mapper's answer to a client's question), ept_lookup (a
listing of everything registered), bind (a connection bound the interface and the
server accepted). A tower whose address is 0.0.0.0 is listed under the server that
answered. JSON keys: server, transport, port, uuid, interface, source, first_seen,
client, version, protseq, service, annotation, capture.`,
    )
    .action((o: EpmOptions) => epmAction(o, { openDb: (f) => openDbOrFail(f, 'read'), openEngine, defaultFormat }));

  addOutputOptions(program);
  return program;
}

/**
 * Every command with --format also takes --wide and --bom: text tables fit the
 * terminal (long cells end in "…") unless --wide; CSV starts with a byte order mark
 * for Excel with --bom.
 */
/** Commands whose --limit is the view's (added with --columns and --sort), not one of their own. */
const VIEW_LIMIT = new Set<Command>();

/** --columns a,b,c as a list of names. */
function columnList(text: string): string[] {
  const names = text.split(',').map((c) => c.trim()).filter(Boolean);
  if (names.length === 0) throw new UserError('exflow: --columns takes column names separated by commas', Exit.Usage);
  return names;
}

function addOutputOptions(program: Command): void {
  const walk = (cmd: Command) => {
    const format = cmd.options.find((o) => o.long === '--format');
    if (format) {
      // Only where a text table can be asked for (not export's ndjson/bulk/csv).
      if (format.argChoices === undefined || format.argChoices.includes('table')) cmd.option('--wide', 'text tables: every cell in full, however wide (default: fit the terminal, long cells cut with …)');
      cmd.option('--bom', 'CSV: start with a UTF-8 byte order mark (for Excel)');
      // The same view on every listing and report (src/report/view.ts); export writes every flow, whole.
      if (cmd.name() !== 'export') {
        cmd.option('--columns <names>', 'only these columns, in this order (comma-separated; JSON: only these keys)');
        cmd.option('--sort <names>', 'sort rows by these columns (comma-separated; -NAME or NAME:desc for descending; empty values last)');
        if (!cmd.options.some((x) => x.long === '--limit')) {
          cmd.option('--limit <n>', 'at most this many rows per list (after --sort)', positiveInt('--limit'));
          VIEW_LIMIT.add(cmd);
        }
      }
    }
    cmd.commands.forEach(walk);
  };
  walk(program);
  program.hook('preAction', (_root, action) => {
    const o = action.opts() as { wide?: boolean; bom?: boolean; format?: string; columns?: string; sort?: string; limit?: number };
    setRowView({
      columns: o.columns === undefined ? undefined : columnList(o.columns),
      sort: o.sort === undefined ? undefined : parseSort(o.sort),
      // host's --limit is its own (rows per list, each list counting what it leaves out).
      limit: VIEW_LIMIT.has(action) ? o.limit : undefined,
    });
    if (o.bom) {
      if (o.format !== 'csv' && o.format !== 'inventory-csv') throw new UserError('exflow: --bom is for CSV output: add --format csv', Exit.Usage);
      startWithBom();
    }
    setTableWidth(!o.wide && process.stdout.isTTY ? Math.max(40, process.stdout.columns || 80) : null);
  });
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length <= 2) {
    // A bare "exflow" asks what it can do: the help, on standard output, exit 0.
    print(program.helpInformation());
    return Exit.Ok;
  }
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : Exit.Ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return Exit.Ok;
      return Exit.Usage;
    }
    if (e instanceof UserError) {
      stderr(e.message);
      return e.exitCode;
    }
    if (e instanceof ViewError) {
      stderr(e.message);
      return Exit.Usage;
    }
    if (e instanceof RulesError) {
      stderr(`exflow: ${e.message}`);
      return Exit.BadInput;
    }
    const err = e as Error;
    stderr(`exflow: internal error: ${err?.message ?? String(e)} (this is a bug; set EXFLOW_DEBUG=1 for details)`);
    if (process.env.EXFLOW_DEBUG) stderr(err?.stack ?? '');
    return Exit.Internal;
  }
}

if (require.main === module) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
