// The one-page HTML report: self-contained (inline CSS, SVG and one small script
// allowed by its hash in the page's Content-Security-Policy; no network), so it
// opens anywhere and can be mailed. What an administrator acts on comes first —
// counts, findings, top conversations — then the pictures, then the long lists,
// folded and capped so a database of 50,000 hosts stays a page a browser opens at
// once. Every string from the wire, the inventory or the rules goes through esc().
import * as crypto from 'node:crypto';
import type { RuleSet } from '../rules/load';
import type { Db } from '../store/db';
import { escapeControls, ISO_TIME, isoFraction, isoSecond, isoTime } from './format';
import { addressCondition, selectsAll, type FlowFilter } from './filter';
import { dropGroups, firstNs, flowGroups, indexedGroups, keepGroups, materializeGroups, secNsec, type Groups } from './groups';
import { encryptionReport, unexpectedReport, servicesReport } from './findings';
import { keepProtectionGroups, protectionReport } from './protection';
import type { Row } from './format';
import { hostStory, HOST_GROUP_COLUMNS, HOST_PEER_COLUMNS, HOST_SERVICE_COLUMNS } from './host';
import { hostByAddress } from './hosts';
import { matrixReport, mixedVerdict, type MatrixCell } from './matrix';
import { newReport, type Baseline } from './new';
import { rolesReport } from './role-traffic';
import { summaryReport } from './summary';
import { startsOf, type Interval } from './starts';

/** Caps: rows shown per table, hosts given a drill-down section. */
export const HTML_LIMITS = { rows: 200, hosts: 200, drilldowns: 25, conversations: 20, bars: 30 };

/**
 * Text for HTML, in an element or an attribute: control, format and invisible code points
 * made visible first (escapeControls: a bidi override from the wire is shown as \u202e,
 * it never reorders the page), then the five characters HTML gives meaning to.
 */
export function esc(v: unknown): string {
  return escapeControls(String(v ?? '')).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** One value from the wire in page text: escaped and isolated (<bdi>), so right-to-left text in it cannot reorder what stands beside it. */
function wire(v: unknown): string {
  const t = esc(v);
  return t === '' ? '' : `<bdi>${t}</bdi>`;
}

/**
 * When the traffic was: one instant once, a span on one day with the day once, else
 * both ends (ISO 8601 UTC, as the tables write them).
 */
function span(first: string | null, last: string | null): string {
  if (!first || !last) return first ?? last ?? '';
  const seconds = (Date.parse(last) - Date.parse(first)) / 1000;
  const length = seconds < 1 ? 'less than a second' : seconds < 120 ? `${seconds.toFixed(0)} seconds` : seconds < 7200 ? `${(seconds / 60).toFixed(0)} minutes` : seconds < 172800 ? `${(seconds / 3600).toFixed(0)} hours` : `${(seconds / 86400).toFixed(0)} days`;
  if (first === last) return `traffic at ${first}`;
  if (first.slice(0, 10) === last.slice(0, 10)) return `traffic on ${first.slice(0, 10)} from ${first.slice(11)} to ${last.slice(11)} (${length})`;
  return `traffic from ${first} to ${last} (${length})`;
}

/** "1 flow", "2 flows". */
function count(n: number, what: string): string {
  return `${grouped(n)} ${what}${n === 1 ? '' : 's'}`;
}

/** A count with its thousands grouped (800,000): read beside "758 MB" without counting digits. */
function grouped(n: number): string {
  return Number.isInteger(n) ? String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',') : String(n);
}

/**
 * A time cell: date and time of day as two unbreakable pieces the line may break between
 * (a narrow screen shows them on two lines; copied, they are the one ISO string).
 */
function timeCell(v: string, attributes: string): string {
  const at = v.indexOf('T') + 1;
  return `<td class="t"${attributes}><span>${esc(v.slice(0, at))}</span><span>${esc(v.slice(at))}</span></td>`;
}

/** Columns of sentences: given room to read as lines, not a strip one word wide. */
const LONG_TEXT = new Set(['reason', 'finding', 'title', 'advice']);

function bytes(n: number): string {
  const u = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${u[i]}`;
}

/**
 * A sortable table (click a heading); more rows than `fold` are folded into
 * <details>; rows beyond the cap are counted in a note that says where the rest is.
 * `notes` puts a column's value in another's tooltip instead of a column of its own: a
 * citation in a seed's language (CJK, Cyrillic) is there for whoever hovers, never a
 * column of boxes on a machine without the fonts.
 */
function table(rows: Row[], columns: string[], o: { cls?: string; fold?: number; total?: number; rest?: string; notes?: Record<string, string> } = {}): string {
  if (rows.length === 0) return '<p class="none">none</p>';
  const cell = (v: Row[string]) => (Array.isArray(v) ? v.map(wire).join('<br>') : wire(v ?? ''));
  const note = (r: Row, c: string) => {
    const from = o.notes?.[c];
    const v = from === undefined ? null : r[from];
    return v === null || v === undefined || v === '' ? '' : ` title="${esc(v)}"`;
  };
  const shown = rows.slice(0, HTML_LIMITS.rows);
  // Byte counts read as the rest of the page writes them (kB, MB), sorted by the count itself.
  // Each cell names its column (data-h): a screen narrower than the table shows a row as a card of "column value" lines.
  const td = (r: Row, c: string) => {
    const v = r[c];
    const h = ` data-h="${esc(c)}"`;
    if (typeof v === 'number' && BYTE_COLUMN.test(c)) return `<td class="n"${h} data-v="${v}">${esc(bytes(v))}</td>`;
    if (typeof v === 'string' && ISO_TIME.test(v)) return timeCell(v, h);
    if (typeof v === 'number') return `<td class="n"${h} data-v="${v}">${esc(grouped(v))}</td>`;
    const title = note(r, c);
    const classes = [LONG_TEXT.has(c) ? 'long' : '', title ? 'cited' : ''].filter(Boolean).join(' ');
    return `<td${h}${classes ? ` class="${classes}"` : ''}${title}>${cell(v)}</td>`;
  };
  // The table scrolls inside its own box when even wrapped it is wider than the page.
  const html = `<div class="wide"><table class="sortable ${o.cls ?? ''}"><thead><tr>${columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${shown
    .map((r) => `<tr>${columns.map((c) => td(r, c)).join('')}</tr>`)
    .join('')}</tbody></table></div>`;
  const total = o.total ?? rows.length;
  const more = total > shown.length ? `<p class="note">${shown.length} of ${total} rows shown${o.rest ? `; ${esc(o.rest)}` : ''}.</p>` : '';
  const fold = o.fold ?? 50;
  return shown.length > fold ? `<details><summary>${shown.length} rows</summary>${html}</details>${more}` : html + more;
}

/** Columns that hold byte counts. */
const BYTE_COLUMN = /^bytes(_|$)/;

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
    const tip = `${c.client_role} → ${c.server_role}: ${count(c.flows, 'flow')}, ${bytes(c.bytes)}; ${c.services.map((s) => `${s.service} (${s.verdict})`).join(', ')}; rules: ${c.rules_say}`;
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
  const shown = items.slice(0, HTML_LIMITS.bars);
  const max = Math.max(...shown.map((i) => i.value), 1);
  const rowH = 22;
  const left = 210;
  const width = 460;
  const svg = shown
    .map((it, i) => {
      const w = Math.max(1, (it.value / max) * width);
      return `<g><title>${esc(`${it.label}: ${bytes(it.value)}${it.note ? ` (${it.note})` : ''}`)}</title><text x="${left - 8}" y="${i * rowH + 15}" text-anchor="end">${esc(it.label)}</text><rect x="${left}" y="${i * rowH + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="#1565c0"/><text x="${left + w + 6}" y="${i * rowH + 15}">${esc(bytes(it.value))}</text></g>`;
    })
    .join('');
  const note = items.length > shown.length ? `<p class="note">the ${shown.length} biggest of ${items.length}.</p>` : '';
  return `<svg id="${id}" xmlns="http://www.w3.org/2000/svg" width="${left + width + 90}" height="${shown.length * rowH + 6}">${svg}</svg>${note}`;
}

/** Round tick steps for a time axis, in seconds. */
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 2592000, 7776000, 31536000];

/**
 * The timeline's axis and its intervals' flows and bytes (null: no flows). `o.minuteRead` is told
 * each minute whose flows are read (src/run/engine.ts copies those from an engine).
 */
export function timelineIntervals(db: Db, f: FlowFilter, o: { minuteRead?: (minute: number) => void } = {}): { lo: number; hi: number; n: number; width: number; intervals: Map<number, Interval> } | null {
  const starts = startsOf(db, f, o);
  const stats = starts.stats();
  if (stats === null) return null;
  const at = (q: number) => starts.at(Math.min(stats.n - 1, Math.floor(q * (stats.n - 1))));
  const q1 = at(0.25);
  const q3 = at(0.75);
  const fence = 10 * Math.max(q3 - q1, 60);
  const lo = Math.max(stats.first, q1 - fence);
  const hi = Math.min(stats.last, q3 + fence);
  const n = 60;
  const width = Math.max((hi - lo) / n, 1e-6);
  return { lo, hi, n, width, intervals: starts.intervals(lo, hi, width, n) };
}

/**
 * Bytes by the time their flow started, in 60 buckets, with time and byte axes. The
 * axis spans the bulk of the flows: the quartiles of their start times, widened by
 * ten times the spread between them (at least ten minutes) — a multi-day capture keeps
 * its days, but one host with a wrong clock does not stretch the chart over decades;
 * the flows left off are counted under it.
 */
function timeline(db: Db, f: FlowFilter): string {
  const t = timelineIntervals(db, f);
  if (t === null) return '<p class="none">no flows</p>';
  const { lo, hi, n, width, intervals } = t;
  const vals = new Array(n).fill(0);
  for (const [k, v] of intervals) if (k >= 0 && k < n) vals[k] = v.bytes;
  let outside = '';
  for (const k of [-1, n]) {
    const r = intervals.get(k);
    if (r) outside += ` ${r.flows} flow${r.flows === 1 ? '' : 's'} ${k < 0 ? 'before' : 'after'} the axis (${k < 0 ? 'earliest' : 'latest'} ${isoFraction(k < 0 ? r.first : r.last) ?? '?'}) not drawn.`;
  }
  const max = Math.max(...vals, 1);
  const L = 70; // room for the byte labels
  const W = 720;
  const H = 140;
  const bw = W / n;
  const rects = vals
    .map((v, i) => `<rect x="${(L + i * bw).toFixed(1)}" y="${(H - (v / max) * H + 8).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${((v / max) * H).toFixed(1)}" fill="#1565c0"><title>${esc(`${isoSecond(lo + i * width)}: ${bytes(v)}`)}</title></rect>`)
    .join('');
  // Time ticks at round steps, about six of them.
  // Beyond the longest step (a year), every k-th year: labels never crowd each other.
  const base = STEPS.find((s) => (hi - lo) / s <= 6) ?? STEPS[STEPS.length - 1];
  const step = base * Math.max(1, Math.ceil((hi - lo) / base / 6));
  const ticks: string[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) {
    const x = L + ((t - lo) / Math.max(hi - lo, 1e-6)) * W;
    const iso = (isoSecond(t) ?? '').replace('T', ' ');
    const label = step >= 86400 ? iso.slice(0, 10) : step >= 60 ? iso.slice(5, 16) : iso.slice(11, 19);
    ticks.push(`<line x1="${x.toFixed(1)}" y1="${H + 8}" x2="${x.toFixed(1)}" y2="${H + 13}" stroke="#555"/><text x="${x.toFixed(1)}" y="${H + 26}" text-anchor="middle">${esc(label)}</text>`);
  }
  const axes =
    `<line x1="${L}" y1="${H + 8}" x2="${L + W}" y2="${H + 8}" stroke="#555"/><line x1="${L}" y1="8" x2="${L}" y2="${H + 8}" stroke="#555"/>` +
    `<text x="${L - 6}" y="14" text-anchor="end">${esc(bytes(max))}</text><text x="${L - 6}" y="${H + 8}" text-anchor="end">0</text>`;
  // The caption is the page's text, not the drawing's: it wraps on a narrow screen.
  const caption = `<p class="note" id="timeline-caption">Flow start time (UTC), ${esc(isoSecond(lo))} to ${esc(isoSecond(Math.ceil(hi)))}; bars: bytes of the flows that started in each of ${n} intervals.</p>`;
  const wide = L + W + 60;
  return `<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="${wide}" height="${H + 32}" viewBox="0 0 ${wide} ${H + 32}">${axes}${ticks.join('')}${rects}</svg>${caption}${outside ? `<p class="note" id="timeline-outliers">${esc(outside.trim())}</p>` : ''}`;
}

/** Clicking a heading sorts its table (numbers as numbers); a second click reverses. */
const SORT_SCRIPT = `document.querySelectorAll('table.sortable th').forEach(function(th){th.addEventListener('click',function(){var t=th.closest('table'),b=t.tBodies[0],i=Array.prototype.indexOf.call(th.parentNode.children,th),d=th.dataset.dir==='a'?'d':'a';th.dataset.dir=d;var r=Array.prototype.slice.call(b.rows);r.sort(function(x,y){var p=x.cells[i].textContent,q=y.cells[i].textContent,m=parseFloat(x.cells[i].dataset.v||p),n=parseFloat(y.cells[i].dataset.v||q),c=(!isNaN(m)&&!isNaN(n)&&x.cells[i].className==='n')?m-n:p.localeCompare(q);return d==='a'?c:-c});r.forEach(function(x){b.appendChild(x)})})});`;
const SORT_HASH = crypto.createHash('sha256').update(SORT_SCRIPT).digest('base64');

interface HostLine {
  address: string;
  flows: number;
  bytes: number;
}

/** Hosts by the bytes of the selected flows they are on (either side), the biggest first. */
function hostsByBytes(db: Db, g: Groups, limit: number): HostLine[] {
  return db
    .prepare(
      `SELECT address, sum(flows) AS flows, sum(bytes) AS bytes FROM (
         SELECT f.client AS address, sum(f.flows) AS flows, sum(f.bytes) AS bytes FROM ${g.sql} f GROUP BY f.client
         UNION ALL SELECT f.server, sum(f.flows), sum(f.bytes) FROM ${g.sql} f GROUP BY f.server)
       GROUP BY address ORDER BY bytes DESC, address LIMIT ?`,
    )
    .all(...g.args, ...g.args, limit) as HostLine[];
}

/**
 * The page. `o.protection`: every host's protection findings of all time (a drill-down shows a
 * host's whatever the filter, as host ADDR does), where the database no longer holds them — an
 * engine's copy of a window's sums (kept before the window's sums replaced those of all time).
 */
export function htmlReport(db: Db, rules: RuleSet, asked: FlowFilter, title: string, baseline: Baseline | null = null, o: { protection?: Groups } = {}): string {
  // Every report on the page reads the same groups: read from the rollups (and judged) once.
  const f = materializeGroups(db, asked);
  try {
    return page(db, rules, f, title, baseline, o.protection);
  } finally {
    dropGroups(db, f);
  }
}

function page(db: Db, rules: RuleSet, f: FlowFilter, title: string, baseline: Baseline | null, allTimeProtection: Groups | undefined): string {
  const s = summaryReport(db, f);
  const cells = matrixReport(db, rules, f);
  const roles = rolesReport(db, f);
  const services = servicesReport(db, f);
  const findings = unexpectedReport(db, f);
  const encryption = encryptionReport(db, f);
  const protection = protectionReport(db, rules, f);
  const g = flowGroups(db, f);
  const conversations = db
    .prepare(
      // A pair's roles as its verdicts name them: a rule names the role it matched, no rule every role ("a+b"); the fullest is shown.
      `SELECT f.client, f.server, max(f.client_role) AS client_role, max(f.server_role) AS server_role, group_concat(DISTINCT coalesce(f.service, '(unknown)')) AS services,
              sum(f.flows) AS flows, sum(f.bytes) AS bytes, group_concat(DISTINCT f.verdict) AS verdicts
       FROM ${g.sql} f GROUP BY f.client, f.server ORDER BY sum(f.bytes) DESC, f.client, f.server LIMIT ?`,
    )
    .all(...g.args, HTML_LIMITS.conversations) as Row[];
  // Hosts by the bytes of their flows, the biggest first; the rest is counted.
  const hostLines = hostsByBytes(db, g, HTML_LIMITS.hosts);
  // Only the hosts the page names are looked up (a database may hold millions).
  const hostInfo = new Map<string, Row | null>();
  const hostOf = (addr: string) => {
    if (!hostInfo.has(addr)) hostInfo.set(addr, hostByAddress(db, addr));
    return hostInfo.get(addr) ?? undefined;
  };
  const label = (addr: string) => {
    const h = hostOf(addr);
    const r = (h?.roles as string[] | undefined) ?? [];
    return r.length ? r.join(' + ') : '(no role)';
  };
  const hostRows: Row[] = hostLines.map((x) => {
    const h = hostOf(x.address);
    return { address: x.address, name: h?.name ?? null, roles: label(x.address), role_source: h?.role_source ?? null, version: h?.version ?? null, flows: x.flows, bytes: x.bytes, serves: (h?.serves as string[] | undefined) ?? [] };
  });
  // Drill-downs: hosts in findings first, then the biggest.
  const flagged = hostsByBytes(db, flowGroups(db, f, [`f.verdict = 'unexpected'`]), HTML_LIMITS.drilldowns);
  const drill = [...new Set([...flagged.map((x) => x.address), ...hostLines.map((x) => x.address)])].slice(0, HTML_LIMITS.drilldowns);
  // The drill-downs' groups read from the rollups once for all of them (a story of its own read
  // them all again per host): the flows the filter selects but for its addresses, as host ADDR has them.
  // Without an address in the filter those are the page's own groups, indexed by client and server
  // rather than copied (the biggest hosts are on most rows: 1M flows, 128k rows copied in 0.26 s).
  const ownGroups = f.host === undefined && f.client === undefined && f.server === undefined;
  const drillGroups = ownGroups
    ? indexedGroups(db, f)
    : keepGroups(db, 'drill_groups', HOST_GROUP_COLUMNS, flowGroups(db, { ...f, host: undefined, client: undefined, server: undefined }), { addresses: drill, indexed: true });
  // Their protection findings likewise (a host's, whatever the filter, as host ADDR shows them):
  // with no filter, the page's own groups with findings; those the caller kept of all time.
  const ownProtection = selectsAll(f);
  const madeProtection = !ownProtection && allTimeProtection === undefined;
  const drillProtection = ownProtection
    ? flowGroups(db, f, ['f.protection IS NOT NULL'], [], { judged: false })
    : (allTimeProtection ?? keepProtectionGroups(db, 'drill_protection', drill));
  const drilldowns = drill
    .map((addr) => {
      const st = hostStory(db, addr, f, 20, rules, { groups: drillGroups, protection: drillProtection });
      const h = hostOf(addr);
      const id = `host-${addr.replace(/[^0-9A-Za-z]/g, '-')}`;
      return `<details class="host" id="${id}"><summary><b>${wire(addr)}</b>${h?.name ? ` ${wire(h.name)}` : ''} — ${esc(label(addr))}${h?.version ? `, Exchange ${esc(h.version)}` : ''} — ${count(st.flows, 'flow')}, ${esc(bytes(st.bytes))}${st.findings.length ? ` — <span class="warn">${grouped(st.findings.reduce((a, x) => a + Number(x.flows), 0))} in findings</span>` : ''}</summary>
<p>Roles from ${esc(h?.role_source ?? 'nowhere')}${h?.confidence ? ` (${esc(h.confidence)} confidence)` : ''}: ${esc(((h?.evidence as string[] | undefined) ?? []).slice(0, 3).join('; ') || 'no evidence')}. Seen ${esc(st.first_seen ?? '')} to ${esc(st.last_seen ?? '')}.</p>
<h4>Serves</h4>${table(st.serves, HOST_SERVICE_COLUMNS, { total: st.serves.length + st.omitted.serves, rest: `exflow host ${addr} lists all` })}
<h4>Uses</h4>${table(st.uses, HOST_SERVICE_COLUMNS, { total: st.uses.length + st.omitted.uses, rest: `exflow host ${addr} lists all` })}
<h4>Peers</h4>${table(st.peers, HOST_PEER_COLUMNS, { total: st.peers.length + st.omitted.peers, rest: `exflow host ${addr} lists all` })}
${st.findings.length ? `<h4>Findings</h4>${table(st.findings, ['verdict', 'client_role', 'server_role', 'service', 'flows', 'examples', 'reason'], { cls: 'findings' })}` : ''}
${st.protection.length ? `<h4>Protection</h4>${table(st.protection, ['severity', 'finding', 'as', 'flows', 'accounts', 'title'], { cls: 'findings' })}` : ''}</details>`;
    })
    .join('\n');
  if (!ownGroups) db.exec(`DROP TABLE ${drillGroups.sql}`);
  if (madeProtection) db.exec(`DROP TABLE ${drillProtection.sql}`);
  // RPC endpoints once per (server, port, interface), however many captures and sources learned them.
  const epServer = f.server ?? f.host;
  const ep = epServer === undefined ? null : addressCondition('e.server', epServer);
  const epWhere = ep ? `WHERE ${ep.sql}` : '';
  const epArgs: (string | number)[] = ep ? [ep.arg] : [];
  const epSql = `FROM rpc_endpoints e JOIN capture_view c ON c.id = e.capture_id ${epWhere} GROUP BY e.server, e.transport, e.port, e.uuid`;
  const endpoints = (db
    .prepare(
      `SELECT e.server, e.transport, e.port, coalesce(max(e.interface), '"' || max(e.annotation) || '" (annotation from the wire)', e.uuid) AS interface, e.uuid,
              group_concat(DISTINCT e.source) AS sources, count(DISTINCT e.capture_id) AS captures,
              ${secNsec(firstNs('e'), 'first')}
       ${epSql} ORDER BY e.server, e.port, interface LIMIT ?`,
    )
    .all(...epArgs, HTML_LIMITS.rows) as Row[]).map(({ first_sec, first_nsec, ...r }) => ({ ...r, first_seen: isoTime(first_sec as number, first_nsec as number) }));
  const endpointTotal = (db.prepare(`SELECT count(*) AS n FROM (SELECT 1 ${epSql})`).get(...epArgs) as { n: number }).n;
  const hostTotal = s.totals.hosts;
  const serviceBytes = new Map<string, number>();
  for (const r of services) serviceBytes.set(String(r.service), (serviceBytes.get(String(r.service)) ?? 0) + Number(r.bytes));
  const t = s.totals;
  const changes = baseline ? newReport(db, baseline, f, HTML_LIMITS.rows) : null;
  const flowsOf = (rows: Row[]) => rows.reduce((a, x) => a + Number(x.flows), 0);
  // Unexpected first, then encryption and protection, then unknown grouped by why (report unexpected's order).
  const unexpectedRows = findings.filter((x) => x.verdict === 'unexpected');
  const unknownRows = findings.filter((x) => x.verdict !== 'unexpected');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-${SORT_HASH}'">
<title>${esc(title)}</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#212121;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}h4{margin:12px 0 4px}
div.wide{max-width:100%;overflow-x:auto}table{border-collapse:collapse;margin:8px 0;font-size:13px}svg{max-width:100%;height:auto}th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:#f5f5f5;cursor:pointer}th[data-dir=a]::after{content:" ▲"}th[data-dir=d]::after{content:" ▼"}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td.t span{display:inline-block;white-space:nowrap}td.cited{text-decoration:underline dotted;cursor:help}
td.long{min-width:14em}
@media (max-width:900px){table.sortable thead{display:none}table.sortable,table.sortable tbody,table.sortable tr{display:block}table.sortable tr{border:1px solid #ddd;margin:0 0 8px}table.sortable td{display:grid;grid-template-columns:9em 1fr;border:0;border-top:1px solid #eee;text-align:left}table.sortable td::before{content:attr(data-h);font-weight:600;color:#555}table.sortable td.t{display:block}table.sortable td.t::before{display:inline-block;width:9em}}
.kpi{display:flex;gap:16px;flex-wrap:wrap}.kpi div{border:1px solid #ddd;padding:8px 12px;border-radius:4px}.kpi b{display:block;font-size:20px}
svg text{font:12px system-ui,sans-serif}svg .count{fill:#fff;font-weight:bold}.legend .swatch{display:inline-block;width:14px;height:14px;margin:0 4px 0 10px;vertical-align:middle;background:rgba(21,101,192,.55);border:3px solid;border-radius:2px}
details.host{border:1px solid #ddd;border-radius:4px;padding:4px 10px;margin:6px 0}summary{cursor:pointer}
.none,.note{color:#757575}.warn{color:#c62828}
</style></head><body>
<h1>${esc(title)}</h1>
<p>${esc(span(t.first_seen, t.last_seen))}</p>
<section id="summary"><h2>Summary</h2>
<div class="kpi"><div><b>${grouped(t.captures)}</b>${t.captures === 1 ? 'capture' : 'captures'}</div><div><b>${grouped(t.flows)}</b>${t.flows === 1 ? 'flow' : 'flows'}</div><div><b>${esc(bytes(t.bytes))}</b>in flows</div><div><b>${grouped(t.packets)}</b>${t.packets === 1 ? 'packet' : 'packets'} in flows</div><div><b>${grouped(t.hosts)}</b>${t.hosts === 1 ? 'host' : 'hosts'}</div>
<div><b>${grouped(s.verdicts.expected)}</b>expected</div><div><b class="warn">${grouped(s.verdicts.unexpected)}</b>unexpected</div><div><b>${grouped(s.verdicts.unknown + s.verdicts.none)}</b>unknown</div></div>
<p>Classified by port ${grouped(s.classified.port)}, by the endpoint mapper ${grouped(s.classified.epm)}, by bind ${grouped(s.classified.bind)}, by payload ${grouped(s.classified.payload)}, not at all ${grouped(s.classified.none)}.</p>
</section>
<section id="findings"><h2>Findings: what to act on</h2>
<h3 id="unexpected">Unexpected: the tables do not allow these (${count(flowsOf(unexpectedRows), 'flow')})</h3>
${table(unexpectedRows, ['client_role', 'server_role', 'service', 'flows', 'examples', 'reason', 'bytes', 'first_seen', 'last_seen'], { cls: 'findings', rest: 'exflow report unexpected lists all' })}
<h3 id="encryption">In clear where the tables say encrypted (${count(flowsOf(encryption), 'flow')})</h3>
${table(encryption, ['client_role', 'server_role', 'service', 'flows', 'examples', 'finding', 'rule', 'bytes', 'first_seen', 'last_seen'], { cls: 'findings', rest: 'exflow report encryption lists all', notes: { finding: 'cite' } })}
<h3 id="protection">How flows authenticate and are protected (${count(protection.length, 'finding')}, ${count(flowsOf(protection), 'flow')})</h3>
${table(protection, ['severity', 'finding', 'title', 'flows', 'clients', 'servers', 'accounts', 'examples', 'advice'], { cls: 'findings', rest: 'exflow report protection lists all, with the guidance each cites' })}
<h3 id="unknown">Unknown, by why (${count(flowsOf(unknownRows), 'flow')})</h3>
${table(unknownRows, ['why', 'client_role', 'server_role', 'service', 'flows', 'bytes', 'examples', 'reason'], { rest: 'exflow report unexpected lists all' })}</section>
${changes ? `<section id="new"><h2>New since the baseline (${esc(changes.baseline)})</h2>
<h4>Flows</h4>${table(changes.flows, ['client', 'server', 'transport', 'server_port', 'service', 'rpc_interface', 'verdict', 'flows', 'bytes', 'first_seen'])}
<h4>Host pairs</h4>${table(changes.host_pairs, ['client', 'server', 'client_role', 'server_role', 'services', 'flows', 'bytes'])}
<h4>Services</h4>${table(changes.services, ['service', 'flows', 'servers', 'clients', 'bytes'])}
<h4>RPC interfaces</h4>${table(changes.rpc_interfaces, ['server', 'rpc_interface', 'ports', 'flows', 'clients'])}</section>` : ''}
<section id="conversations"><h2>Top conversations</h2>
${table(conversations.map((c) => ({ ...c, services: String(c.services ?? '').split(',').sort(), verdicts: String(c.verdicts ?? '').split(',').sort() })), ['client', 'server', 'client_role', 'server_role', 'services', 'flows', 'bytes', 'verdicts'])}</section>
<section id="matrix-section"><h2>Role × role</h2>
<p class="legend">${(['expected', 'unexpected', 'mixed', 'unknown'] as const).map((v) => `<span class="swatch" style="border-color:${COLOURS[v]}"></span>${v}`).join(' ')} — the frame is the verdict; the fill is bytes (darker = more, log scale); the number is flows; <b>!</b> = traffic where the rules say "no direct connection". Rows: client role, columns: server role.</p>
${heatmap(cells)}
</section>
<section id="timeline-section"><h2>Traffic over time</h2>${timeline(db, f)}</section>
<section id="services"><h2>Bytes per service</h2>${bars([...serviceBytes].sort((a, b) => b[1] - a[1]).map(([label, value]) => ({ label, value })), 'service-bars')}</section>
<section id="roles"><h2>Bytes per role (sent + received)</h2>${bars(roles.map((r) => ({ label: r.role, value: r.bytes_out + r.bytes_in, note: `${bytes(r.bytes_out)} out, ${bytes(r.bytes_in)} in` })), 'role-bars')}
${table(roles.map((r) => ({ role: r.role, hosts: r.hosts, flows: r.flows, bytes_out: r.bytes_out, bytes_in: r.bytes_in, services: r.by_service.slice(0, 10).map((x) => `${x.service}: ${bytes(x.bytes_out + x.bytes_in)}`), top_talkers: r.top_talkers.map((x) => `${x.address}: ${bytes(x.bytes)}`) })), ['role', 'hosts', 'flows', 'bytes_out', 'bytes_in', 'services', 'top_talkers'])}</section>
<section id="hosts"><h2>Hosts</h2>
${table(hostRows, ['address', 'name', 'roles', 'role_source', 'version', 'flows', 'bytes', 'serves'], { total: hostTotal, rest: 'the biggest by bytes; exflow hosts lists all' })}</section>
<section id="host-details"><h2>Host details</h2><p class="note">${drill.length} hosts: those in findings first, then the biggest${hostTotal > drill.length ? ` (of ${hostTotal}; exflow host ADDR tells any host's story)` : ''}.</p>
${drilldowns || '<p class="none">none</p>'}</section>
<section id="endpoints"><h2>RPC endpoints learned</h2>${table(endpoints, ['server', 'transport', 'port', 'interface', 'uuid', 'sources', 'captures', 'first_seen'], { total: endpointTotal, rest: 'exflow epm lists all' })}</section>
<section id="captures"><h2>Captures</h2>${table(s.captures, ['id', 'path', 'status', 'format', 'packets', 'flows', 'first_seen', 'last_seen', 'warnings'], { fold: 20 })}</section>
<p class="none">exflow — generated ${esc(new Date().toISOString())}</p>
<script>${SORT_SCRIPT}</script>
</body></html>
`;
}
