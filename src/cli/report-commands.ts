// "exflow report …" and "exflow export": every report reads the database only.
import type { WindowOf } from '../run/engine';
import type { Command } from 'commander';
import { Option } from 'commander';
import { EPM_COLUMNS, EPM_TABLE_COLUMNS, queryEndpoints } from '../report/epm';
import { DEFAULT_INDEX, ECS_VERSION } from '../report/export';
import { defaultExportThreads, writeExport } from '../run/export';
import { windowAlone, type FlowFilter } from '../report/filter';
import { ENCRYPTION_COLUMNS, ENCRYPTION_TABLE_COLUMNS, encryptionReport, servicesReport, UNEXPECTED_COLUMNS, UNEXPECTED_TABLE_COLUMNS, unexpectedReport } from '../report/findings';
import { keepProtectionGroups, PROTECTION_COLUMNS, PROTECTION_TABLE_COLUMNS, protectionReport } from '../report/protection';
import type { Groups } from '../report/groups';
import { escapeControls, FORMATS, render, renderJson, renderStream, type Format, type Row } from '../report/format';
import { checkColumns, rowView } from '../report/view';
import { MinuteFlowsMissing, startsFromMinutes } from '../report/starts';
import { htmlReport } from '../report/html';
import { NEW_FLOW_COLUMNS, newReport } from '../report/new';
import { CONFLICT_COLUMNS, DYNAMIC_COLUMNS, FIREWALL_RULE_COLUMNS, firewallPlan, nftLines, powershellLines, ruleRows, writePlanJson } from '../report/firewall';
import { HOST_PEER_COLUMNS, HOST_SERVICE_COLUMNS, hostStory } from '../report/host';
import { addressesNamed, hostNameList } from '../report/hosts';
import { matrixReport, matrixRows } from '../report/matrix';
import { roleServiceRows, rolesReport } from '../report/role-traffic';
import { summaryReport } from '../report/summary';
import type { RuleSet } from '../rules/load';
import { roleNamed } from '../rules/roles';
import type { Db } from '../store/db';
import { isClickHouse } from '../store/clickhouse/target';
import { Exit, UserError } from './errors';
import { print } from './out';
import { checkOutPath, ChunkFiles, exportSink, formatForOut, manifestName, openOutput, OUT_HELP, writeOutput } from './out-file';
import { addressOption, baselineOption, collect, engineDbOption, knownName, positiveInt, resolveHostName, threadCount, threadsFromEnv, timeOption } from './options';


/** What a command reads of an engine besides the copy of its sums (cli/main.ts: openEngine). */
export interface EngineOpen {
  /** --since/--until from the sums of the window's flows: their groups judged once for the filter (true), or read with its other conditions ('sums'). */
  window?: boolean | 'sums';
  /** The flows the filter may pass, copied ('all': every flow). */
  flows?: boolean | 'all';
  /** Of those, only the first this many the filter passes, in listing order (flows --limit). */
  firstFlows?: number;
  /** The minutes flows began in, and the flows of those the HTML timeline reads. */
  timeline?: boolean;
  /** Told the command's copy before a window's sums replace those of all time (what the report reads of all time is kept; the addresses whose window it reads). */
  beforeWindow?: (copy: Db) => WindowOf | void;
}

export interface ReportDeps {
  openDb: (file: string) => Db;
  /**
   * A ClickHouse engine (clickhouse://…) as a database the reports read, as `o` says; `prepare`
   * gives the filter to read it with; `close` closes it (and removes a copy made for the command).
   */
  openEngine: (url: string, f: FlowFilter, o?: EngineOpen) => Promise<{ db: Db; file: string; close: () => void; prepare: (f: FlowFilter) => FlowFilter }>;
  loadRules: (dirs: string[] | undefined) => RuleSet;
  defaultFormat: (f: string | undefined) => Format;
}

/** The options as commander gives them: the flow filters (times still as typed), the database, format and rules. */
export type CommonOptions = Omit<FlowFilter, 'since' | 'until'> & {
  since?: string;
  until?: string;
  db: string;
  format?: string;
  rules?: string[];
  out?: string;
};

/** The flow filters as options (flows, every report, export): the same words and meaning everywhere. */
/** Elasticsearch's default http.max_content_length: a _bulk body larger than this is refused. */
const BULK_LIMIT = 100 * 1024 * 1024;

export function addFilterOptions(cmd: Command): Command {
  return cmd
    .option('--capture <id|path>', 'only flows of this capture')
    .option('--since <time>', 'only flows that end at or after this time (ISO 8601, UTC unless it carries an offset such as +02:00; epoch seconds; or before now: -15m, -1h, -2d, -1w, today, yesterday — midnight UTC)')
    .option('--until <time>', 'only flows that start at or before this time')
    .option('--host <addr|cidr|name>', 'only flows with this address (or an address in this block, or the host of this name) on either side')
    .option('--client <addr|cidr|name>', 'only flows whose client is this address, in this block or of this name')
    .option('--server <addr|cidr|name>', 'only flows whose server is this address, in this block or of this name')
    .option('--service <id>', 'only flows of this service (exflow rules show services)')
    .option('--role <id>', 'only flows with this role on either side (exflow rules show roles)')
    .addOption(new Option('--verdict <verdict>', 'only flows with this verdict').choices(['expected', 'unexpected', 'unknown']))
    .option('--finding <id>', 'only flows that raised this protection finding (exflow report protection lists them; exflow rules show protection)')
    .option('--sensor <name>', 'only flows of captures this sensor analyzed (analyze --sensor; exflow runs lists them)');
}

export function filterOf(o: CommonOptions): FlowFilter {
  return {
    capture: o.capture, since: timeOption('--since', o.since), until: timeOption('--until', o.until),
    host: addressOption('--host', o.host), client: addressOption('--client', o.client), server: addressOption('--server', o.server),
    service: o.service, role: o.role, verdict: o.verdict, finding: o.finding, sensor: o.sensor,
    ...(o.fromFlows ? { fromFlows: true } : {}),
  };
}

/** An address option's value with a host name turned into its one address (options.ts: resolveHostName). */
const hostAddress = (db: Db, option: string, v: string): string => resolveHostName(option, v, (n) => addressesNamed(db, n), () => hostNameList(db));

/**
 * --service and --role name what the rules (or the database) know: exit 64 with the nearest names
 * otherwise. A host name given to --host, --client or --server becomes its address here (in place).
 */
export function checkFilterNames(f: { service?: string; role?: string; finding?: string; sensor?: string; host?: string; client?: string; server?: string }, rules: () => RuleSet, db: Db): void {
  for (const k of ['host', 'client', 'server'] as const) {
    const v = f[k];
    if (v !== undefined) f[k] = hostAddress(db, `--${k}`, v);
  }
  knownName('--sensor', f.sensor, 'sensor', () => [], () => db.prepare("SELECT DISTINCT sensor FROM runs WHERE sensor IS NOT NULL AND status = 'complete'").pluck().iterate() as Iterable<string>, 'exflow runs');
  knownName('--finding', f.finding, 'protection finding', () => rules().protection.map((p) => p.id), () => findingsInDb(db), 'exflow rules show protection');
  knownName('--service', f.service, 'service', () => rules().serviceById.keys(), () => db.prepare('SELECT DISTINCT service FROM flows WHERE service IS NOT NULL').pluck().iterate() as Iterable<string>, 'exflow rules show services');
  if (f.role !== undefined) f.role = roleNamed(rules().roles, f.role)?.id ?? f.role; // an old id (outlook-2007) names the role as it is now
  knownName('--role', f.role, 'role', () => rules().roles.keys(), () => rolesInDb(db), 'exflow rules show roles');
}

function* findingsInDb(db: Db): Generator<string> {
  for (const r of db.prepare('SELECT DISTINCT protection FROM flows WHERE protection IS NOT NULL').pluck().iterate() as Iterable<string>) yield* r.split(',');
}

function* rolesInDb(db: Db): Generator<string> {
  for (const r of db.prepare("SELECT DISTINCT roles FROM hosts WHERE roles IS NOT NULL AND roles != ''").pluck().iterate() as Iterable<string>) yield* r.split(',');
}

function common(cmd: Command, withFormat = true): Command {
  // Every report reads a ClickHouse engine too (src/run/engine.ts).
  cmd.addOption(engineDbOption('to read'));
  addFilterOptions(cmd);
  // Reports add up rollups; export and new read flows whatever this says.
  if (!['export', 'new'].includes(cmd.name())) cmd.option('--from-flows', 'add up every flow instead of the rollups: the same answer, slower (a check of the rollups)');
  if (withFormat) cmd.addOption(new Option('--format <format>', 'output format (table on a terminal, tab-separated text when piped; with --out FILE, what its name ends in: .json, .csv, .tsv, .md, else a table)').choices(FORMATS));
  // html and export name their own --out.
  if (!['html', 'export'].includes(cmd.name())) cmd.option('--out <file>', OUT_HELP);
  return cmd;
}

/** Several tables one after another, each under a heading (JSON gets the object as is). */
function sections(parts: { title: string; rows: Row[]; columns: string[] }[], format: Format): string {
  const out: string[] = [];
  streamSections(parts, format, (s) => out.push(s));
  return out.join('');
}

/** Sections written as their rows come (renderStream): for reports whose lists can be long. */
function streamSections(parts: { title: string; rows: Iterable<Row>; columns: string[] }[], format: Format, write: (s: string) => void): void {
  // --columns and --sort name columns of any of the lists; each list shows those it has, and a list with none of them is left out.
  const v = rowView();
  checkColumns(parts.flatMap((p) => p.columns), v, 'this report');
  if (v.columns) parts = parts.filter((p) => p.columns.some((c) => v.columns!.includes(c)));
  parts.forEach((p, i) => {
    if (i > 0) write('\n');
    write(format === 'md' ? `### ${p.title}\n\n` : format === 'csv' || format === 'tsv' ? `# ${p.title}\n` : `${p.title}\n`);
    renderStream(p.rows, p.columns, format, write, true);
  });
}

/** The options of "exflow epm" and "exflow report epm": endpoints are not flows, so they take the filters that mean something for them. */
export type EpmOptions = { db: string; format?: string; capture?: string; source?: string; server?: string; since?: string; until?: string; out?: string };

export function addEpmOptions(cmd: Command): Command {
  return cmd
    .addOption(engineDbOption('to read'))
    .addOption(new Option('--format <format>', 'output format (table on a terminal, tab-separated text when piped)').choices(FORMATS))
    .option('--capture <id|path>', 'only endpoints learned from this capture')
    .option('--since <time>', 'only endpoints first learned at or after this time (ISO 8601, UTC unless it carries an offset; epoch seconds; or -1h, -2d, today …)')
    .option('--until <time>', 'only endpoints first learned at or before this time')
    .option('--server <addr|cidr|name>', 'only endpoints on this server (an address or its name), or on the servers in this block')
    .addOption(new Option('--source <source>', 'only endpoints learned this way').choices(['ept_map', 'ept_lookup', 'bind', 'dcom']))
    .option('--out <file>', OUT_HELP);
}

export async function epmAction(o: EpmOptions, deps: Pick<ReportDeps, 'openDb' | 'openEngine' | 'defaultFormat'>): Promise<void> {
  const q = { capture: o.capture, source: o.source, server: addressOption('--server', o.server), since: timeOption('--since', o.since), until: timeOption('--until', o.until) };
  const engine = isClickHouse(o.db);
  if (o.out !== undefined) checkOutPath(o.out, engine ? null : o.db);
  // The registry is among what an engine's copy holds (endpoints are not flows: no filter of flows applies).
  const from = engine ? await deps.openEngine(o.db, {}) : null;
  const db = from?.db ?? deps.openDb(o.db);
  try {
    if (q.server !== undefined) q.server = hostAddress(db, '--server', q.server);
    const format = formatForOut(o.format, o.out, () => deps.defaultFormat(undefined));
    const text = render(queryEndpoints(db, q), format === 'table' ? EPM_TABLE_COLUMNS : EPM_COLUMNS, format);
    if (o.out === undefined) print(text);
    else writeOutput(o.out, text);
  } finally {
    if (from) from.close();
    else db.close();
  }
}

/**
 * What a report reads of a ClickHouse engine (SQLite files are read whole): 'window',
 * the sums of a time window, its groups judged once for the filter; 'window-sums', the sums of a
 * time window, read with the filter's other conditions (the report makes filters of its own);
 * 'flows', the flows the filter may pass; 'all-flows', every flow; 'timeline', the minutes flows
 * began in and the flows of those the HTML timeline reads; 'window-timeline', the sums of a time
 * window and the flows of the minutes its timeline reads.
 */
type Engine = 'window' | 'window-sums' | 'flows' | 'all-flows' | 'timeline' | 'window-timeline';

export function addReportCommands(program: Command, deps: ReportDeps): void {
  const report = program.command('report').description('summaries people act on: per role, the role matrix, findings (unexpected, in clear), firewall rules, what is new, RPC endpoints, an HTML page');
  /**
   * The database --db names, as a source a report reads and closes: a SQLite file, or a ClickHouse
   * engine read as `engine` says (`narrow`: the flows the report reads, where fewer than its filter
   * passes). --out is checked first (that it does not name a SQLite database's files).
   */
  const source = async (o: CommonOptions, f: FlowFilter, engine: Engine, beforeWindow?: (copy: Db) => WindowOf | void) => {
    const fromEngine = isClickHouse(o.db);
    if (o.out !== undefined) checkOutPath(o.out, fromEngine ? null : o.db);
    if (fromEngine) {
      const window = engine === 'window' || engine === 'window-timeline' ? true : engine === 'window-sums' ? 'sums' : false;
      return deps.openEngine(o.db, f, { window, flows: engine === 'all-flows' ? 'all' : engine === 'flows', timeline: engine === 'timeline' || engine === 'window-timeline', beforeWindow });
    }
    const db = deps.openDb(o.db);
    return { db, file: o.db, close: () => db.close(), prepare: (g: FlowFilter) => g };
  };
  /** A report over the database --db names: a SQLite file, or a ClickHouse engine read as `engine` says. */
  const run = async (o: CommonOptions, body: (db: Db, f: FlowFilter, format: Format) => string, engine: Engine = 'window', beforeWindow?: (copy: Db) => WindowOf | void) => {
    const f = filterOf(o);
    const from = await source(o, f, engine, beforeWindow);
    const db = from.db;
    try {
      checkFilterNames(f, () => deps.loadRules(undefined), db);
      const text = body(db, from.prepare(f), formatForOut(o.format, o.out, () => deps.defaultFormat(undefined)));
      if (o.out === undefined) print(text);
      else writeOutput(o.out, text);
    } finally {
      from.close();
    }
  };
  const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;

  common(report.command('summary').description('captures (status, warnings), time span, totals, how flows were classified, verdict counts'))
    .addHelpText('after', examples(['exflow report summary --db audit.sqlite', 'exflow report summary --db audit.sqlite --format json']))
    .action((o: CommonOptions) =>
      run(o, (db, f, format) => {
        const s = summaryReport(db, f);
        if (format === 'json') return renderJson(s, 'report summary');
        return sections(
          [
            { title: 'Totals', rows: [s.totals as unknown as Row], columns: Object.keys(s.totals) },
            { title: 'Classified by', rows: [s.classified as unknown as Row], columns: Object.keys(s.classified) },
            { title: 'Verdicts', rows: [s.verdicts as unknown as Row], columns: Object.keys(s.verdicts) },
            { title: 'Captures', rows: s.captures, columns: ['id', 'path', 'status', 'format', 'packets', 'bytes', 'flows', 'first_seen', 'last_seen', 'warnings'] },
          ],
          format,
        );
      }),
    );

  common(report.command('roles').description('per role: hosts, flows, bytes and packets out and in, by service and by peer role, top talkers'))
    .addHelpText('after', examples(['exflow report roles --db audit.sqlite', 'exflow report roles --db audit.sqlite --format json | jq ".[0].by_service"', 'exflow report roles --db clickhouse://ch1:8123,ch2:8123/exflow   # every sensor shipped there (docs/clickhouse.md)']))
    .action((o: CommonOptions) =>
      run(o, (db, f, format) => {
        const r = rolesReport(db, f);
        if (format === 'json') return renderJson(r, 'report roles');
        return sections(
          [
            { title: 'Roles', rows: r.map(({ by_service: _s, by_peer: _p, top_talkers: t, ...x }) => ({ ...x, top_talkers: t.map((h) => h.address) })), columns: ['role', 'hosts', 'flows', 'bytes_out', 'bytes_in', 'packets_out', 'packets_in', 'top_talkers'] },
            { title: 'Roles by service', rows: roleServiceRows(r), columns: ['role', 'service', 'flows', 'bytes_out', 'bytes_in'] },
            { title: 'Roles by peer role', rows: r.flatMap((x) => x.by_peer.map((p) => ({ role: x.role, ...p }))), columns: ['role', 'peer_role', 'flows', 'bytes_out', 'bytes_in'] },
          ],
          format,
        );
      }),
    );

  common(report.command('matrix').description('role × role: services seen in each cell and whether the rules expect them').option('--rules <dir>', 'an extra rules folder (repeat for more): adds to or overrides the shipped rules', collect, []))
    .addHelpText('after', examples(['exflow report matrix --db audit.sqlite', 'exflow report matrix --db audit.sqlite --format md > matrix.md']))
    .action((o: CommonOptions) =>
      run(o, (db, f, format) => {
        const cells = matrixReport(db, deps.loadRules(o.rules), f);
        if (format === 'json') return renderJson(cells, 'report matrix');
        return render(matrixRows(cells), ['client_role', 'server_role', 'flows', 'bytes', 'services', 'expected', 'unexpected', 'unknown', 'rules_say'], format);
      }),
    );

  common(report.command('unexpected').description('unexpected flows first, then unknown ones grouped by why (no role for a side, a role only guessed, an RPC interface not read), by client role, server role and service'))
    .addHelpText('after', examples(['exflow report unexpected --db audit.sqlite', 'exflow report unexpected --db audit.sqlite --format csv > findings.csv']))
    .action((o: CommonOptions) =>
      run(o, (db, f, format) => render(unexpectedReport(db, f), format === 'table' ? UNEXPECTED_TABLE_COLUMNS : UNEXPECTED_COLUMNS, format)),
    );

  common(report.command('encryption').description('flows in clear where the tables say the service is encrypted between the two roles (STARTTLS or TLS expected)'))
    .addHelpText(
      'after',
      `${examples(['exflow report encryption --db audit.sqlite', 'exflow flows --db audit.sqlite --format json | jq \'.[] | select(.tls == "none")\''])}
A finding needs the flow's payload: TLS from its first byte (tls = implicit), a
switch with STARTTLS (starttls), or commands in clear (none). Where the capture
cannot tell (tls empty: cut by the snaplen, the start not captured), there is no finding.`,
    )
    .action((o: CommonOptions) => run(o, (db, f, format) => render(encryptionReport(db, f), format === 'table' ? ENCRYPTION_TABLE_COLUMNS : ENCRYPTION_COLUMNS, format)));

  common(report.command('protection').description('how flows authenticate and whether they are protected: NTLMv1, NTLM, RPC without encryption, LDAP without signing, SMB1 and SMB signing, passwords in clear, old TLS — most severe first, with hosts and accounts').option('--rules <dir>', 'an extra rules folder (repeat for more): adds to or overrides the shipped rules', collect, []))
    .addHelpText(
      'after',
      `${examples(['exflow report protection --db audit.sqlite', 'exflow flows --db audit.sqlite --finding ntlmv1 --format csv', 'exflow report protection --db audit.sqlite --server 10.0.0.10 --format md > protection.md'])}
Findings, their severity and the Microsoft guidance each cites are rules/protection.yaml
(exflow rules show protection). A finding is raised from what the first packets of a flow
show; a flow whose authentication is encrypted (inside TLS) raises none of its own.
docs/protection.md says what each column means and how it is read.`,
    )
    .action((o: CommonOptions) =>
      run(o, (db, f, format) => {
        const rows = protectionReport(db, deps.loadRules(o.rules), f);
        return render(rows, format === 'table' ? PROTECTION_TABLE_COLUMNS : PROTECTION_COLUMNS, format);
      }),
    );

  common(report.command('services').description('per service and how it was decided: flows, bytes, packets, servers and clients'))
    .addHelpText('after', examples(['exflow report services --db audit.sqlite']))
    .action((o: CommonOptions) => run(o, (db, f, format) => render(servicesReport(db, f), ['service', 'via', 'flows', 'bytes', 'packets', 'servers', 'clients', 'rpc_interfaces'], format)));

  addEpmOptions(report.command('epm').description('RPC endpoints learned per server (the same as "exflow epm")'))
    .addHelpText('after', examples(['exflow report epm --db audit.sqlite', 'exflow report epm --db audit.sqlite --server 10.10.0.5 --since 2026-01-15']))
    .action((o: EpmOptions) => epmAction(o, deps));

  common(report.command('firewall').description('least-privilege allow rules from the observed flows: per role or host pair, dynamic RPC ports and how to pin them; table, CSV, JSON, nftables, PowerShell'), false)
    .addOption(new Option('--format <format>', 'table, csv, json, md, nft (an nftables ruleset) or powershell (New-NetFirewallRule); with --out FILE, what its name ends in (.nft, .ps1, .json, .csv, .md)').choices([...FORMATS, 'nft', 'powershell']))
    .addOption(new Option('--per <scope>', 'rules per role pair (the matrix rule\'s roles) or per host pair').choices(['role', 'host']).default('role'))
    .option('--all', 'rules for every observed flow, not only the ones the matrix expects')
    .option('--supported-only', 'leave out rules between internal servers of Exchange 2013 and later, where Microsoft does not support a firewall (the supported column says which)')
    .option('--rules <dir>', 'an extra rules folder (repeat for more)', collect, [])
    .addHelpText(
      'after',
      `${examples([
        'exflow report firewall --db audit.sqlite',
        'exflow report firewall --db audit.sqlite --format nft > exflow.nft && nft -c -f exflow.nft',
        'exflow report firewall --db audit.sqlite --per host --server 10.10.0.0/16 --format powershell > rules.ps1',
      ])}
Rules come from flows whose verdict is expected (--all: every flow), grouped per
role pair (the roles the matrix rule names; a dynamic RPC port is allowed on the
one server that handed it out) or per host pair. "Dynamic RPC ports" lists each
such port with its interfaces and the registry value that pins it (where Microsoft
documents one). "Cannot be separated" lists flows the rules would let through
although they are not expected: two interfaces of one server process share a port.
The nftables ruleset accepts established traffic and the allowed new connections
and drops other new connections between audited hosts (policy accept otherwise).
"supported" is "no" for a rule between internal servers (Exchange servers but the
Edge, domain controllers) of Exchange 2013 and later: Microsoft does not support
restricting that traffic (rules/versions.yaml cites where); --supported-only leaves
those rules out.`,
    )
    .action(async (o: CommonOptions & { per: 'role' | 'host'; all?: boolean; supportedOnly?: boolean; format?: string; rules: string[] }) => {
      const f = filterOf(o);
      const rules = deps.loadRules(o.rules);
      const from = await source(o, f, 'window-sums');
      const db = from.db;
      // A ruleset written to a file appears whole or not at all (it may be loaded by a firewall as it is).
      const out = openOutput(o.out);
      try {
        checkFilterNames(f, () => rules, db);
        const plan = firewallPlan(db, rules, from.prepare(f), { per: o.per, all: o.all === true, supportedOnly: o.supportedOnly === true });
        const header = [
          `exflow report firewall --per ${o.per}${o.all ? ' --all' : ''}${o.supportedOnly ? ' --supported-only' : ''} from ${o.db}: ${plan.counts.rules} rules`,
          plan.counts.conflicts ? `${plan.counts.conflicts} port(s) also carry flows that are not expected (see the table output's "Cannot be separated")` : 'every flow these rules let through was expected',
          'Review before use.',
        ].join('\n');
        // Streamed: per host, a large capture makes a rule per host pair.
        const lines = (it: Iterable<string>) => {
          for (const l of it) out.write(l + '\n');
        };
        const format = formatForOut(o.format, o.out, () => deps.defaultFormat(undefined), { nft: 'nft', ps1: 'powershell' } as Record<string, 'nft' | 'powershell'>);
        if (format === 'nft') lines(nftLines(plan, header));
        else if (format === 'powershell') lines(powershellLines(plan, header));
        else if (format === 'json') writePlanJson(plan, out.write);
        else {
          const MEMBERS = 50;
          const members = function* () {
            for (const [role, hosts] of Object.entries(plan.role_hosts)) {
              const shown: string[] = [];
              let n = 0;
              for (const h of hosts) if (n++ < MEMBERS) shown.push(h);
              yield { role, members: n, hosts: n > MEMBERS ? [...shown, `… ${n - MEMBERS} more (--format json lists all)`] : shown };
            }
          };
          streamSections(
            [
              { title: `Allow (${plan.counts.rules} rules, per ${o.per}${o.all ? ', every observed flow' : ', expected flows'})`, rows: ruleRows(plan), columns: format === 'table' ? FIREWALL_RULE_COLUMNS.filter((c) => c !== 'cite') : FIREWALL_RULE_COLUMNS },
              { title: 'Dynamic RPC ports (pin them to fixed ports where you can)', rows: plan.rpc_dynamic as Iterable<unknown> as Iterable<Row>, columns: DYNAMIC_COLUMNS },
              { title: 'Cannot be separated by port', rows: plan.conflicts as Iterable<unknown> as Iterable<Row>, columns: CONFLICT_COLUMNS },
              { title: 'Role members', rows: members(), columns: ['role', 'members', 'hosts'] },
            ],
            format,
            out.write,
          );
        }
        out.finish();
      } catch (e) {
        out.abandon();
        throw e;
      } finally {
        from.close();
      }
    });

  common(report.command('new').description('what is new since a baseline (a capture, a run or a time range): flows, host pairs, services, RPC interfaces'))
    .requiredOption('--baseline <capture|run:N|from..to>', 'the baseline: a capture id or path, run:N, or a time range FROM..TO (either end may be empty)')
    .addHelpText(
      'after',
      `${examples([
        'exflow report new --db audit.sqlite --baseline 1',
        'exflow report new --db audit.sqlite --baseline run:3',
        'exflow report new --db audit.sqlite --baseline ..2026-11-01 --format json',
        'exflow report new --db audit.sqlite --baseline ring/monday.pcap --server 10.10.0.0/16',
      ])}
Everything outside the baseline (narrowed by the flow filters) is compared with it.
A flow is new when no baseline flow has the same client, server, transport, server
port and service (client ports differ between connections and are ignored).`,
    )
    .action((o: CommonOptions & { baseline: string }) => {
      const b = baselineOption(o.baseline);
      return run(o, (db, f, format) => {
        const r = newReport(db, b, f);
        if (r.baseline_flows === 0) throw new UserError(`exflow: the baseline (${r.baseline}) holds no flows in ${o.db}: nothing to compare with (exflow report summary lists the captures, exflow runs the runs)`, Exit.BadInput);
        if (format === 'json') return renderJson(r, 'report new');
        return (
          (format === 'table' ? `Compared ${r.compared_flows} flows with the baseline (${r.baseline}, ${r.baseline_flows} flows)\n\n` : '') +
          sections(
            [
              { title: `New flows (${r.flows.length})`, rows: r.flows, columns: NEW_FLOW_COLUMNS },
              { title: `New host pairs (${r.host_pairs.length})`, rows: r.host_pairs, columns: ['client', 'server', 'client_role', 'server_role', 'services', 'flows', 'bytes'] },
              { title: `New services (${r.services.length})`, rows: r.services, columns: ['service', 'flows', 'servers', 'clients', 'bytes'] },
              { title: `New RPC interfaces per server (${r.rpc_interfaces.length})`, rows: r.rpc_interfaces, columns: ['server', 'rpc_interface', 'ports', 'flows', 'clients'] },
            ],
            format,
          )
        );
        // Its baseline is not narrowed by the filter: every flow is copied from an engine.
      }, 'all-flows');
    });

  common(report.command('html').description('one self-contained HTML page: counts, findings and top conversations first, role matrix heat map, timeline, bytes per service and role, hosts and their drill-downs, RPC endpoints'), false)
    .option('--out <file>', 'where to write the page (- for standard output); written beside it and renamed when complete', '-')
    .option('--rules <dir>', 'an extra rules folder (repeat for more): adds to or overrides the shipped rules', collect, [])
    .option('--title <text>', 'page title', 'exflow report')
    .option('--baseline <capture|run:N|from..to>', 'add a "new since the baseline" section (as exflow report new)')
    .addHelpText('after', examples(['exflow report html --db audit.sqlite --out report.html']))
    .action(async (o: CommonOptions & { out: string; title: string; baseline?: string }) => {
      const f = filterOf(o);
      const baseline = o.baseline === undefined ? null : baselineOption(o.baseline);
      const rules = deps.loadRules(o.rules);
      // From an engine: the flows of the filter; unfiltered, those of the minutes the timeline reads
      // (a time window alone: its sums too, and every host's protection findings of all time, kept
      // for the drill-downs before the window's sums replace those of all time); with a baseline, all.
      let allTime: Groups | undefined;
      const keepAllTime = (copy: Db) => {
        allTime = keepProtectionGroups(copy, 'html_all_time_protection');
      };
      const engine: Engine = baseline !== null ? 'all-flows' : startsFromMinutes(f) ? 'timeline' : windowAlone(f) ? 'window-timeline' : 'flows';
      const from = await source(o, f, engine, engine === 'window-timeline' ? keepAllTime : undefined);
      const db = from.db;
      try {
        checkFilterNames(f, () => rules, db);
        let page: string;
        try {
          page = htmlReport(db, rules, from.prepare(f), o.title, baseline, { protection: allTime });
        } catch (e) {
          if (e instanceof MinuteFlowsMissing) throw new UserError(`exflow: ${escapeControls(o.db)}: ${e.message}`, Exit.Database);
          throw e;
        }
        const bytes = writeOutput(o.out, page);
        if (o.out !== '-') process.stderr.write(`exflow: wrote ${escapeControls(o.out)} (${bytes} bytes)\n`);
      } finally {
        from.close();
      }
    });

  common(program.command('host').description("one host's whole story: roles and evidence, version, what it serves and uses, peers, findings, RPC endpoints"))
    .argument('<address>', 'the host: its IPv4 or IPv6 address, or its name (as exflow hosts lists it; the first label will do)')
    .option('--limit <n>', 'at most this many rows per list (the rest is counted)', positiveInt('--limit'), 50)
    .addHelpText(
      'after',
      `${examples(['exflow host 10.77.0.10 --db audit.sqlite', 'exflow host 10.77.0.20 --db audit.sqlite --since 2026-01-15 --format json | jq .findings'])}
The flow filters narrow the flows the story is told from (--host, --client and
--server are the host itself here). JSON keys: address, host (the "exflow hosts"
row), flows, bytes, first_seen, last_seen, serves, uses, peers, findings,
rpc_endpoints, names (every name the capture gave it, with its source), protection (its
flows' protection findings), omitted (rows left out
by --limit, per list).`,
    )
    .action((address: string, o: CommonOptions & { limit: number }) => {
      if (addressOption('address', address)?.includes('/')) throw new UserError(`exflow: host takes one address, not a block ("${address}"); for a block use exflow hosts --host ${address}`, Exit.Usage);
      let allTime: Groups | undefined;
      return run(o, (db, f, format) => {
        address = hostAddress(db, 'host', address);
        const s = hostStory(db, address, f, o.limit, deps.loadRules(undefined), allTime ? { protection: allTime } : {});
        if (s.flows === 0 && s.host === null) throw new UserError(`exflow: ${address}: no such host in ${o.db} (exflow hosts lists them)`, Exit.BadInput);
        if (format === 'json') return renderJson(s, 'host');
        const h = s.host ?? {};
        const who: Row = {
          address: s.address, name: h.name ?? null, name_source: h.name_source ?? null, roles: h.roles ?? [], role_source: h.role_source ?? null, confidence: h.confidence ?? null,
          version: h.version ?? null, site: h.site ?? null, flows: s.flows, bytes: s.bytes, first_seen: s.first_seen, last_seen: s.last_seen,
        };
        const more = (list: string) => (s.omitted[list] ? ` (${s.omitted[list]} more not shown; --limit)` : '');
        return sections(
          [
            { title: `Host ${s.address}`, rows: [who], columns: Object.keys(who) },
            { title: 'Names from the wire', rows: s.names, columns: ['name', 'source', 'flows', 'first_seen', 'last_seen'] },
            { title: 'Role evidence', rows: ((h.evidence as string[] | undefined) ?? []).map((e) => ({ evidence: e })).concat(h.disagreement ? [{ evidence: `disagreement: ${h.disagreement}` }] : []), columns: ['evidence'] },
            { title: `Serves${more('serves')}`, rows: s.serves, columns: HOST_SERVICE_COLUMNS },
            { title: `Uses${more('uses')}`, rows: s.uses, columns: HOST_SERVICE_COLUMNS },
            { title: `Peers${more('peers')}`, rows: s.peers, columns: HOST_PEER_COLUMNS },
            { title: 'Findings', rows: s.findings, columns: ['verdict', 'client_role', 'server_role', 'service', 'flows', 'bytes', 'examples', 'reason'] },
            { title: `RPC endpoints${more('rpc_endpoints')}`, rows: s.rpc_endpoints, columns: ['port', 'transport', 'interface', 'source', 'client', 'first_seen'] },
            { title: 'Protection (exflow report protection --host for the details)', rows: s.protection, columns: ['severity', 'finding', 'as', 'flows', 'accounts', 'title'] },
          ],
          format,
        );
      }, 'window-sums', (copy) => {
        // From an engine with a window: the host's protection findings of all time (as on SQLite,
        // whatever the window), read before the window's sums replace the copy's; and of the
        // window the host's own traffic alone (its story reads no other).
        const own = hostAddress(copy, 'host', address);
        allTime = keepProtectionGroups(copy, 'host_all_time_protection', [own]);
        return { addresses: [own] };
      });
    });

  common(program.command('export').description('every flow for other engines, in the order stored (as each ended, as Zeek conn.log has them): NDJSON with Elastic Common Schema fields, an Elasticsearch _bulk body, or CSV'), false)
    .addOption(new Option('--format <format>', 'ndjson (ECS), bulk (ECS as an Elasticsearch/OpenSearch _bulk body) or csv').choices(['ndjson', 'bulk', 'csv']).default('ndjson'))
    .option('--index <name>', 'with --format bulk: the index or data stream to create documents in', DEFAULT_INDEX)
    .option('--chunk-mb <n>', 'with --format bulk and --out FILE: write numbered files (FILE-0001.ext, …) of at most this many MB, each a request body of its own (Elasticsearch refuses bodies over 100 MB)', positiveInt('--chunk-mb'), 10)
    .option('--rules <dir>', 'an extra rules folder (repeat for more): for the services\' application protocols', collect, [])
    .option('--out <file>', 'write here instead of standard output (written beside it and renamed when complete)')
    .option('--threads <n>', 'threads that make the documents, 1-64 (default: EXFLOW_THREADS, else one per core, at most 3); the output is the same', threadCount('--threads'))
    .addHelpText(
      'after',
      `${examples([
        'exflow export --db audit.sqlite > flows.ndjson',
        'exflow export --db audit.sqlite --format bulk | curl -s -H "Content-Type: application/x-ndjson" -XPOST localhost:9200/_bulk --data-binary @-',
        'exflow export --db audit.sqlite --format bulk --out flows.ndjson     # flows-0001.ndjson, … 10 MB each, listed in flows.ndjson.chunks',
        'for f in flows-*.ndjson; do curl -s -H "Content-Type: application/x-ndjson" -XPOST localhost:9200/_bulk --data-binary @$f; done',
        'exflow export --db audit.sqlite --format csv --out flows.csv',
      ])}
NDJSON: one object per flow with ECS ${ECS_VERSION} fields (ecs.version, @timestamp,
event.start/end/duration/id/dataset, source.ip/port/bytes/packets, destination.*,
network.transport/type/iana_number/protocol/community_id/bytes/packets, related.ip)
as nested objects, observer.name/hostname (the sensor), and exflow.* (service,
roles, verdict, rule, reason, cite, RPC interface). event.id — the _bulk _id too —
is a hash of the sensor, the capture and the flow: sending a body again adds
nothing. The index template for them ships in share/elastic/ (see docs/elastic.md).
With --out the files are put in place only when all are complete: Ctrl-C (exit 130),
SIGTERM (143) or a full disk (2) leave the earlier export as it was.`,
    )
    .action(async (o: CommonOptions & { format: 'ndjson' | 'csv' | 'bulk'; out?: string; index: string; chunkMb: number; rules?: string[]; threads?: number }, cmd: Command) => {
      const chunked = o.format === 'bulk' && o.out !== undefined && o.out !== '-';
      // A flag that cannot apply is refused, not ignored: only a bulk body written to files is split.
      if (cmd.getOptionValueSource('chunkMb') === 'cli' && !chunked) {
        throw new UserError('exflow: --chunk-mb splits a _bulk body written to files: add --format bulk and --out FILE (NDJSON, CSV and standard output are one stream)', Exit.Usage);
      }
      const f = filterOf(o);
      const rules = deps.loadRules(o.rules);
      const from = await source(o, f, 'flows');
      const db = from.db;
      let out: ChunkFiles | ReturnType<typeof openOutput>;
      try {
        out = chunked ? new ChunkFiles(o.out!, o.chunkMb * 1e6, isClickHouse(o.db) ? null : o.db) : openOutput(o.out);
      } catch (e) {
        from.close();
        throw e;
      }
      // Ctrl-C or SIGTERM while the files are written: the temporary files go, the earlier
      // export stays whole (the writing turns the event loop every few thousand lines to hear it).
      let signal: NodeJS.Signals | null = null;
      const stop = (sig: NodeJS.Signals) => {
        signal = sig;
      };
      process.on('SIGINT', stop).on('SIGTERM', stop);
      try {
        checkFilterNames(f, () => rules, db);
        const threads = o.threads ?? threadsFromEnv() ?? defaultExportThreads();
        await writeExport(
          { db, dbPath: from.file, rules, filter: f, format: o.format, bulkIndex: o.index, threads },
          exportSink(out, () => signal !== null),
        );
        if (signal) throw new UserError(`exflow: export stopped by ${signal}; nothing was written${o.out && o.out !== '-' ? `, ${escapeControls(o.out)} and its earlier files are as they were` : ''}`, signal === 'SIGTERM' ? Exit.Terminated : Exit.Interrupted);
        out.finish();
      } catch (e) {
        out.abandon();
        throw e;
      } finally {
        process.off('SIGINT', stop).off('SIGTERM', stop);
        from.close();
      }
      if (out instanceof ChunkFiles) {
        const [first, last] = [out.files[0], out.files[out.files.length - 1]];
        process.stderr.write(`exflow: ${out.files.length} bulk bod${out.files.length === 1 ? 'y' : 'ies'} of at most ${o.chunkMb} MB: ${escapeControls(first)}${out.files.length > 1 ? ` … ${escapeControls(last)}` : ''}, listed in ${escapeControls(manifestName(o.out!))}${out.removed ? ` (${out.removed} older chunk file${out.removed === 1 ? '' : 's'} of the earlier export removed)` : ''}\n`);
        if (out.foreign.length) process.stderr.write(`exflow: note: ${out.foreign.map(escapeControls).join(', ')}: named like a chunk but not written by an exflow export (no manifest lists ${out.foreign.length === 1 ? 'it' : 'them'}); left as ${out.foreign.length === 1 ? 'it was' : 'they were'}\n`);
      } else if (o.format === 'bulk' && out.toStdout && out.bytes > BULK_LIMIT) {
        process.stderr.write(`exflow: warning: the _bulk body is ${(out.bytes / 1e6).toFixed(0)} MB; Elasticsearch refuses a request over 100 MB (http.max_content_length, 100mb by default): write it in chunks with --out FILE (--chunk-mb, default 10)\n`);
      }
    });
}
