// The one-page HTML report: self-contained (inline CSS and SVG, no script, no
// network), so it opens anywhere and can be mailed. Every string from the wire,
// the inventory or the rules goes through esc().
import type { RuleSet } from '../rules/load';
import type { Db } from '../store/db';
import { isoTime } from './format';
import { queryEndpoints } from './epm';
import { flowWhere, type FlowFilter } from './filter';
import { unexpectedReport, servicesReport } from './findings';
import type { Row } from './format';
import { queryHosts } from './hosts';
import { matrixReport, mixedVerdict, type MatrixCell } from './matrix';
import { rolesReport } from './role-traffic';
import { summaryReport } from './summary';

export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function bytes(n: number): string {
  const u = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${u[i]}`;
}

function table(rows: Row[], columns: string[], cls = ''): string {
  if (rows.length === 0) return '<p class="none">none</p>';
  const cell = (v: Row[string]) => (Array.isArray(v) ? v.map(esc).join('<br>') : esc(v ?? ''));
  return `<table class="${cls}"><thead><tr>${columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${columns.map((c) => `<td${typeof r[c] === 'number' ? ' class="n"' : ''}>${cell(r[c])}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

const COLOURS: Record<string, string> = { expected: '#2e7d32', unexpected: '#c62828', mixed: '#ef6c00', unknown: '#757575' };

/** Role × role heat map: fill by bytes (log scale), frame by verdict; "no direct connection" cells with traffic marked "!". */
function heatmap(cells: MatrixCell[]): string {
  if (cells.length === 0) return '<p class="none">no flows</p>';
  const clients = [...new Set(cells.map((c) => c.client_role))].sort();
  const servers = [...new Set(cells.map((c) => c.server_role))].sort();
  const size = 46;
  // Room for the longest labels: row labels run left, column labels rise at 45°.
  const left = 20 + 7 * Math.max(...clients.map((c) => c.length));
  const top = 30 + Math.ceil(7 * 0.71 * Math.max(...servers.map((s) => s.length)));
  const max = Math.max(...cells.map((c) => Math.log10(1 + c.bytes)));
  const w = left + servers.length * size + top; // the last column label leans right
  const h = top + clients.length * size + 20;
  const parts: string[] = [];
  servers.forEach((s, i) => parts.push(`<text class="col" transform="translate(${left + i * size + size / 2},${top - 8}) rotate(-45)">${esc(s)}</text>`));
  clients.forEach((c, j) => parts.push(`<text class="row" x="${left - 8}" y="${top + j * size + size / 2 + 4}" text-anchor="end">${esc(c)}</text>`));
  for (const c of cells) {
    const x = left + servers.indexOf(c.server_role) * size;
    const y = top + clients.indexOf(c.client_role) * size;
    const v = mixedVerdict(c.expected, c.unexpected);
    const alpha = (0.15 + 0.85 * (Math.log10(1 + c.bytes) / (max || 1))).toFixed(2);
    const tip = `${c.client_role} → ${c.server_role}: ${c.flows} flows, ${bytes(c.bytes)}; ${c.services.map((s) => `${s.service} (${s.verdict})`).join(', ')}; rules: ${c.rules_say}`;
    parts.push(
      `<g class="cell ${v}${c.no_direct_connection ? ' forbidden' : ''}"><title>${esc(tip)}</title>` +
        `<rect x="${x + 2}" y="${y + 2}" width="${size - 4}" height="${size - 4}" fill="#1565c0" fill-opacity="${alpha}" stroke="${COLOURS[v]}" stroke-width="${c.no_direct_connection ? 5 : 3}"/>` +
        `<text x="${x + size / 2}" y="${y + size / 2 + 4}" text-anchor="middle" class="count">${c.no_direct_connection ? '!' : c.flows}</text></g>`,
    );
  }
  return `<svg id="matrix" xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="role by role matrix">${parts.join('')}</svg>`;
}

function bars(items: { label: string; value: number; note?: string }[], id: string): string {
  if (items.length === 0) return '<p class="none">none</p>';
  const max = Math.max(...items.map((i) => i.value), 1);
  const rowH = 22;
  const left = 210;
  const width = 460;
  const svg = items
    .map((it, i) => {
      const w = Math.max(1, (it.value / max) * width);
      return `<g><title>${esc(`${it.label}: ${bytes(it.value)}${it.note ? ` (${it.note})` : ''}`)}</title><text x="${left - 8}" y="${i * rowH + 15}" text-anchor="end">${esc(it.label)}</text><rect x="${left}" y="${i * rowH + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="#1565c0"/><text x="${left + w + 6}" y="${i * rowH + 15}">${esc(bytes(it.value))}</text></g>`;
    })
    .join('');
  return `<svg id="${id}" xmlns="http://www.w3.org/2000/svg" width="${left + width + 90}" height="${items.length * rowH + 6}">${svg}</svg>`;
}

/** Bytes by the time their flow started, in up to 60 buckets (a flow's bytes fall in its first bucket). */
function timeline(db: Db, f: FlowFilter): string {
  const w = flowWhere(f);
  const span = db.prepare(`SELECT min(f.first_ts) AS a, max(f.first_ts) AS b FROM flow_view f ${w.sql}`).get(...w.args) as { a: number | null; b: number | null };
  if (span.a === null || span.b === null) return '<p class="none">no flows</p>';
  const n = 60;
  const width = Math.max((span.b - span.a) / n, 1e-6);
  const rows = db
    .prepare(`SELECT min(${n - 1}, CAST((f.first_ts - ?) / ? AS INTEGER)) AS k, sum(f.bytes) AS bytes FROM flow_view f ${w.sql} GROUP BY k`)
    .all(span.a, width, ...w.args) as { k: number; bytes: number }[];
  const vals = new Array(n).fill(0);
  for (const r of rows) vals[r.k] = r.bytes;
  const max = Math.max(...vals, 1);
  const W = 720;
  const H = 140;
  const bw = W / n;
  const rects = vals.map((v, i) => `<rect x="${(i * bw).toFixed(1)}" y="${(H - (v / max) * H).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${((v / max) * H).toFixed(1)}" fill="#1565c0"><title>${esc(bytes(v))}</title></rect>`).join('');
  const t0 = isoTime(Math.floor(span.a), 0) ?? String(span.a);
  const t1 = isoTime(Math.floor(span.b), 0) ?? String(span.b);
  return `<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H + 30}">${rects}<text x="0" y="${H + 20}">${esc(t0)}</text><text x="${W}" y="${H + 20}" text-anchor="end">${esc(t1)}</text></svg>`;
}

export function htmlReport(db: Db, rules: RuleSet, f: FlowFilter, title: string): string {
  const s = summaryReport(db, f);
  const cells = matrixReport(db, rules, f);
  const roles = rolesReport(db, f);
  const services = servicesReport(db, f);
  const unexpected = unexpectedReport(db, f);
  const endpoints = queryEndpoints(db, { capture: f.capture });
  const hosts = queryHosts(db);
  const serviceBytes = new Map<string, number>();
  for (const r of services) serviceBytes.set(String(r.service), (serviceBytes.get(String(r.service)) ?? 0) + Number(r.bytes));
  const t = s.totals;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#212121;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.kpi{display:flex;gap:16px;flex-wrap:wrap}.kpi div{border:1px solid #ddd;padding:8px 12px;border-radius:4px}.kpi b{display:block;font-size:20px}
svg text{font:12px system-ui,sans-serif}svg .count{fill:#fff;font-weight:bold}.legend span{display:inline-block;padding:2px 8px;margin-right:6px;color:#fff;border-radius:3px}
.none{color:#757575}.warn{color:#c62828}
</style></head><body>
<h1>${esc(title)}</h1>
<p>${esc(t.first_seen ?? '')} — ${esc(t.last_seen ?? '')}</p>
<section id="summary"><h2>Summary</h2>
<div class="kpi"><div><b>${t.captures}</b>captures</div><div><b>${t.flows}</b>flows</div><div><b>${esc(bytes(t.bytes))}</b>bytes in flows</div><div><b>${t.packets}</b>packets in flows</div><div><b>${t.hosts}</b>hosts</div>
<div><b>${s.verdicts.expected}</b>expected</div><div><b class="warn">${s.verdicts.unexpected}</b>unexpected</div><div><b>${s.verdicts.unknown + s.verdicts.none}</b>unknown</div></div>
<p>Classified by port ${s.classified.port}, by the endpoint mapper ${s.classified.epm}, by bind ${s.classified.bind}, by payload ${s.classified.payload}, not at all ${s.classified.none}.</p>
${table(s.captures, ['id', 'path', 'status', 'format', 'packets', 'flows', 'first_seen', 'last_seen', 'warnings'])}
</section>
<section id="matrix-section"><h2>Role × role</h2>
<p class="legend"><span style="background:${COLOURS.expected}">expected</span><span style="background:${COLOURS.unexpected}">unexpected</span><span style="background:${COLOURS.mixed}">mixed</span><span style="background:${COLOURS.unknown}">unknown</span> fill = bytes (log scale); number = flows; <b>!</b> = traffic where the rules say "no direct connection". Rows: client role, columns: server role.</p>
${heatmap(cells)}
</section>
<section id="services"><h2>Bytes per service</h2>${bars([...serviceBytes].sort((a, b) => b[1] - a[1]).map(([label, value]) => ({ label, value })), 'service-bars')}</section>
<section id="roles"><h2>Bytes per role (sent + received)</h2>${bars(roles.map((r) => ({ label: r.role, value: r.bytes_out + r.bytes_in, note: `${bytes(r.bytes_out)} out, ${bytes(r.bytes_in)} in` })), 'role-bars')}
${table(roles.map((r) => ({ role: r.role, hosts: r.hosts, flows: r.flows, bytes_out: r.bytes_out, bytes_in: r.bytes_in, services: r.by_service.map((x) => `${x.service}: ${bytes(x.bytes_out + x.bytes_in)}`), top_talkers: r.top_talkers.map((x) => `${x.address}: ${bytes(x.bytes)}`) })), ['role', 'hosts', 'flows', 'bytes_out', 'bytes_in', 'services', 'top_talkers'])}</section>
<section id="timeline-section"><h2>Traffic over time</h2>${timeline(db, f)}</section>
<section id="unexpected"><h2>Unexpected flows and unknown hosts</h2>${table(unexpected, ['verdict', 'client_role', 'server_role', 'service', 'flows', 'bytes', 'first_seen', 'last_seen', 'examples', 'reason'], 'findings')}</section>
<section id="hosts"><h2>Hosts</h2>${table(hosts, ['address', 'name', 'roles', 'role_source', 'confidence', 'serves', 'disagreement'])}</section>
<section id="endpoints"><h2>RPC endpoints learned</h2>${table(endpoints, ['server', 'transport', 'port', 'interface', 'uuid', 'source', 'client', 'first_seen', 'annotation'])}</section>
<p class="none">exflow — generated ${esc(new Date().toISOString())}</p>
</body></html>
`;
}
