// "exflow report …" and "exflow export": every report reads the database only.
import { parseNet } from '../classify/ip';
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { EPM_COLUMNS, EPM_TABLE_COLUMNS, queryEndpoints } from '../report/epm';
import { DEFAULT_INDEX, ECS_VERSION, exportFlows } from '../report/export';
import { parseTime, type FlowFilter } from '../report/filter';
import { servicesReport, unexpectedReport } from '../report/findings';
import { FORMATS, render, type Format, type Row } from '../report/format';
import { htmlReport } from '../report/html';
import { matrixReport, matrixRows } from '../report/matrix';
import { roleServiceRows, rolesReport } from '../report/role-traffic';
import { summaryReport } from '../report/summary';
import type { RuleSet } from '../rules/load';
import type { Db } from '../store/db';
import { Exit, UserError } from './errors';
import { ChunkedWriter, print } from './out';

export interface ReportDeps {
  openDb: (file: string) => Db;
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
};

/** An --host/--client/--server value, checked: an address or a CIDR block, else a usage error. */
export function addressOption(name: string, v: string | undefined): string | undefined {
  if (v !== undefined && !parseNet(v)) throw new UserError(`exflow: ${name} takes an IPv4/IPv6 address or a CIDR block (10.0.0.0/8), not "${v}"`, Exit.Usage);
  return v;
}

/** The flow filters as options (flows, every report, export): the same words and meaning everywhere. */
export function addFilterOptions(cmd: Command): Command {
  return cmd
    .option('--capture <id|path>', 'only flows of this capture')
    .option('--since <time>', 'only flows that end at or after this time (ISO 8601 or epoch seconds)')
    .option('--until <time>', 'only flows that start at or before this time')
    .option('--host <addr|cidr>', 'only flows with this address (or an address in this block) on either side')
    .option('--client <addr|cidr>', 'only flows whose client is this address or in this block')
    .option('--server <addr|cidr>', 'only flows whose server is this address or in this block')
    .option('--service <id>', 'only flows of this service (exflow rules show services)')
    .option('--role <id>', 'only flows with this role on either side (exflow rules show roles)')
    .addOption(new Option('--verdict <verdict>', 'only flows with this verdict').choices(['expected', 'unexpected', 'unknown']));
}

export function filterOf(o: CommonOptions): FlowFilter {
  const time = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const t = parseTime(v);
    if (t === null) throw new UserError(`exflow: ${name} takes an ISO 8601 time (2026-01-15T09:00:00Z) or seconds since 1970, not "${v}"`, Exit.Usage);
    return t;
  };
  return {
    capture: o.capture, since: time('--since', o.since), until: time('--until', o.until),
    host: addressOption('--host', o.host), client: addressOption('--client', o.client), server: addressOption('--server', o.server),
    service: o.service, role: o.role, verdict: o.verdict,
  };
}

function common(cmd: Command, withFormat = true): Command {
  cmd.option('--db <file>', 'SQLite database to read', 'exflow.sqlite');
  addFilterOptions(cmd);
  if (withFormat) cmd.addOption(new Option('--format <format>', 'output format (table on a terminal, JSON when piped)').choices(FORMATS));
  return cmd;
}

/** Several tables one after another, each under a heading (JSON gets the object as is). */
function sections(parts: { title: string; rows: Row[]; columns: string[] }[], format: Format): string {
  return parts
    .map((p) => {
      const head = format === 'md' ? `### ${p.title}\n\n` : format === 'csv' ? `# ${p.title}\n` : `${p.title}\n`;
      return head + render(p.rows, p.columns, format);
    })
    .join('\n');
}

export function addReportCommands(program: Command, deps: ReportDeps): void {
  const report = program.command('report').description('summaries people act on: per role, the role matrix, unexpected flows, services, RPC endpoints, an HTML page');
  const run = (o: CommonOptions, body: (db: Db, f: FlowFilter, format: Format) => string) => {
    const f = filterOf(o);
    const db = deps.openDb(o.db);
    try {
      print(body(db, f, deps.defaultFormat(o.format)));
    } finally {
      db.close();
    }
  };
  const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;

  common(report.command('summary').description('captures (status, warnings), time span, totals, how flows were classified, verdict counts'))
    .addHelpText('after', examples(['exflow report summary --db audit.sqlite', 'exflow report summary --db audit.sqlite --format json']))
    .action((o: CommonOptions) =>
      run(o, (db, f, format) => {
        const s = summaryReport(db, f);
        if (format === 'json') return JSON.stringify(s, null, 2) + '\n';
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
    .addHelpText('after', examples(['exflow report roles --db audit.sqlite', 'exflow report roles --db audit.sqlite --format json | jq ".[0].by_service"']))
    .action((o: CommonOptions) =>
      run(o, (db, f, format) => {
        const r = rolesReport(db, f);
        if (format === 'json') return JSON.stringify(r, null, 2) + '\n';
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

  common(report.command('matrix').description('role × role: services seen in each cell and whether the rules expect them').option('--rules <dir...>', 'extra rules folders'))
    .addHelpText('after', examples(['exflow report matrix --db audit.sqlite', 'exflow report matrix --db audit.sqlite --format md > matrix.md']))
    .action((o: CommonOptions) =>
      run(o, (db, f, format) => {
        const cells = matrixReport(db, deps.loadRules(o.rules), f);
        if (format === 'json') return JSON.stringify(cells, null, 2) + '\n';
        return render(matrixRows(cells), ['client_role', 'server_role', 'flows', 'bytes', 'services', 'expected', 'unexpected', 'unknown', 'rules_say'], format);
      }),
    );

  common(report.command('unexpected').description('unexpected and unknown-role flows grouped by client role, server role and service, with why'))
    .addHelpText('after', examples(['exflow report unexpected --db audit.sqlite', 'exflow report unexpected --db audit.sqlite --format csv > findings.csv']))
    .action((o: CommonOptions) =>
      run(o, (db, f, format) => render(unexpectedReport(db, f), ['verdict', 'client_role', 'server_role', 'service', 'flows', 'bytes', 'first_seen', 'last_seen', 'examples', 'rpc_interfaces', 'reason'], format)),
    );

  common(report.command('services').description('per service and how it was decided: flows, bytes, packets, servers and clients'))
    .addHelpText('after', examples(['exflow report services --db audit.sqlite']))
    .action((o: CommonOptions) => run(o, (db, f, format) => render(servicesReport(db, f), ['service', 'via', 'flows', 'bytes', 'packets', 'servers', 'clients', 'rpc_interfaces'], format)));

  common(report.command('epm').description('RPC endpoints learned per server (the same as "exflow epm")'))
    .addHelpText('after', examples(['exflow report epm --db audit.sqlite']))
    .action((o: CommonOptions) => {
      // Endpoints are not flows: a flow filter would be dropped silently, so it is refused.
      const ignored = (['since', 'until', 'host', 'client', 'server', 'service', 'role', 'verdict'] as const).filter((k) => o[k] !== undefined);
      if (ignored.length) throw new UserError(`exflow: report epm lists endpoints, not flows: it takes --capture, not ${ignored.map((k) => `--${k}`).join(', ')}`, Exit.Usage);
      run(o, (db, f, format) => render(queryEndpoints(db, { capture: f.capture }), format === 'table' ? EPM_TABLE_COLUMNS : EPM_COLUMNS, format));
    });

  common(report.command('html').description('one self-contained HTML page: summary, role matrix heat map, bytes per service and role, timeline, findings, RPC endpoints'), false)
    .requiredOption('--out <file>', 'where to write the page')
    .option('--rules <dir...>', 'extra rules folders')
    .option('--title <text>', 'page title', 'exflow report')
    .addHelpText('after', examples(['exflow report html --db audit.sqlite --out report.html']))
    .action((o: CommonOptions & { out: string; title: string }) => {
      const f = filterOf(o);
      const rules = deps.loadRules(o.rules);
      const db = deps.openDb(o.db);
      try {
        const page = htmlReport(db, rules, f, o.title);
        try {
          fs.writeFileSync(o.out, page);
        } catch (e) {
          throw new UserError(`exflow: ${o.out}: cannot write the report (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, Exit.BadInput);
        }
        process.stderr.write(`exflow: wrote ${o.out} (${page.length} bytes)\n`);
      } finally {
        db.close();
      }
    });

  common(program.command('export').description('every flow for other engines: NDJSON with Elastic Common Schema fields, an Elasticsearch _bulk body, or CSV'), false)
    .addOption(new Option('--format <format>', 'ndjson (ECS), bulk (ECS as an Elasticsearch/OpenSearch _bulk body) or csv').choices(['ndjson', 'bulk', 'csv']).default('ndjson'))
    .option('--index <name>', 'with --format bulk: the index or data stream to create documents in', DEFAULT_INDEX)
    .option('--rules <dir...>', 'extra rules folders (for the services\' application protocols)')
    .option('--out <file>', 'write here instead of standard output')
    .addHelpText(
      'after',
      `${examples([
        'exflow export --db audit.sqlite > flows.ndjson',
        'exflow export --db audit.sqlite --format bulk | curl -s -H "Content-Type: application/x-ndjson" -XPOST localhost:9200/_bulk --data-binary @-',
        'exflow export --db audit.sqlite --format csv --out flows.csv',
      ])}
NDJSON: one object per flow with ECS ${ECS_VERSION} fields (ecs.version, @timestamp,
event.start/end/duration/id/dataset, source.ip/port/bytes/packets, destination.*,
network.transport/type/iana_number/protocol/community_id/bytes/packets, related.ip)
as nested objects, and exflow.* (service, roles, verdict, rule, reason, RPC
interface). The index template for them ships in share/elastic/ (see README).`,
    )
    .action((o: CommonOptions & { format: 'ndjson' | 'csv' | 'bulk'; out?: string; index: string; rules?: string[] }) => {
      const f = filterOf(o);
      const rules = deps.loadRules(o.rules);
      const db = deps.openDb(o.db);
      let fd = 1;
      try {
        if (o.out !== undefined) {
          try {
            fd = fs.openSync(o.out, 'w');
          } catch (e) {
            throw new UserError(`exflow: ${o.out}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, Exit.BadInput);
          }
        }
        const out = new ChunkedWriter(fd);
        exportFlows(db, rules, f, o.format, out.write, o.index);
        out.flush();
      } finally {
        if (fd !== 1) fs.closeSync(fd);
        db.close();
      }
    });
}
