// Names read from the wire (issue 31, item 11) against tshark's dissection. The NetBIOS
// name service on the public traces that carry UDP 137: every unique workstation or server name (suffix 0x00,
// 0x20) that a positive query response, a registration or refresh, or a node status
// response gives an address is a netbios-ns name of that address in exflow's host_names —
// and exflow has no netbios-ns name tshark does not show (group names, other suffixes,
// the malformed names of a fuzzed trace). DCOM: the host names in the string bindings
// ("host[port]", tower 7) of the answers a server sends name that server.
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HAVE_SHARED, HAVE_TSHARK, ROOT, runCli, shared, tmpDir } from './helpers';

const TRACES = ['public/ndpi-netbios.pcap', 'public/suricata-bug-5162-input.pcap', 'public/ndpi-fuzz-2006-06-26-2594.pcap', 'public/suricata-smb2-07-20171220_smb_psexec_add_user.pcap', 'public/zeek-erspan.pcap'];

interface Field {
  name: string;
  show: string;
  value: string;
}

const unescape = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');

/** Per NBNS datagram, its fields in order as tshark's PDML has them. */
function packets(file: string): Field[][] {
  const r = spawnSync('tshark', ['-n', '-r', file, '-Y', 'nbns', '-T', 'pdml'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  expect(r.status).toBe(0);
  const out: Field[][] = [];
  let cur: Field[] = [];
  for (const line of r.stdout.split('\n')) {
    if (line.includes('<packet>')) cur = [];
    else if (line.includes('</packet>')) out.push(cur);
    if (!line.includes('<field ')) continue;
    const attr = (a: string) => new RegExp(` ${a}="([^"]*)"`).exec(line)?.[1] ?? '';
    cur.push({ name: attr('name'), show: unescape(attr('show')), value: attr('value') });
  }
  return out;
}

/** "NAME<xx>…" → [name, suffix]. */
function split(show: string): [string, number] | null {
  const m = /^(.*?)<([0-9a-f]{2})>/i.exec(show);
  return m ? [m[1].replace(/ +$/, ''), parseInt(m[2], 16)] : null;
}

const HOST_SUFFIX = [0x00, 0x20];
/** What exflow keeps as a name: printable ASCII without spaces or the wildcard. */
const PLAIN = /^[!-)+-~]+$/;

/** address|name pairs tshark shows names given to. */
function theirs(file: string): Set<string> {
  const want = new Set<string>();
  for (const p of packets(file)) {
    const get = (n: string) => p.find((f) => f.name === n)?.show ?? '';
    const src = get('ip.src');
    const response = get('nbns.flags.response') === '1';
    const opcode = Number(get('nbns.flags.opcode'));
    if (p.some((f) => f.name === '_ws.malformed')) continue;
    if (response ? opcode !== 0 || get('nbns.flags.rcode') !== '0' : ![5, 8, 9].includes(opcode)) continue;
    if (!response && (get('nbns.count.queries') !== '1' || get('nbns.count.add_rr') !== '1')) continue;
    let rrName: [string, number] | null = null;
    let seenQuestion = response; // a request's first name is its question
    for (let i = 0; i < p.length; i++) {
      const f = p[i];
      if (f.name === 'nbns.name') {
        if (!seenQuestion) {
          seenQuestion = true;
          continue;
        }
        rrName = split(f.show);
      } else if (f.name === 'nbns.nb_flags' && rrName) {
        const addr = p.slice(i).find((x) => x.name === 'nbns.addr');
        if ((parseInt(f.show, 16) & 0x8000) === 0 && HOST_SUFFIX.includes(rrName[1]) && PLAIN.test(rrName[0]) && addr) want.add(`${addr.show}|${rrName[0].toLowerCase()}`);
      } else if (f.name === 'nbns.netbios_name') {
        // A node status entry: the responder's own name; the suffix is the 16th byte.
        const suffix = parseInt(f.value.slice(30, 32), 16);
        const flags = p[i + 1]?.name === 'nbns.name_flags' ? parseInt(p[i + 1].show, 16) : 0x8000;
        const name = f.show.replace(/ +$/, '');
        if ((flags & 0x8000) === 0 && HOST_SUFFIX.includes(suffix) && PLAIN.test(name)) want.add(`${src}|${name.toLowerCase()}`);
      }
    }
  }
  return want;
}

function ours(file: string, source = 'netbios-ns'): Set<string> {
  const dir = tmpDir();
  const db = path.join(dir, 'n.sqlite');
  expect(runCli(['analyze', file, '--db', db, '--quiet']).code).toBeLessThanOrEqual(1);
  const d = new Database(db, { readonly: true });
  const rows = d.prepare('SELECT address, name FROM host_names WHERE source = ?').all(source) as { address: string; name: string }[];
  d.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return new Set(rows.map((r) => `${r.address}|${r.name}`));
}

describe.skipIf(!HAVE_TSHARK || !HAVE_SHARED)('NetBIOS name service names = tshark', () => {
  let total = 0;
  for (const t of TRACES) {
    it(t, () => {
      const want = theirs(shared(t));
      expect([...ours(shared(t))].sort()).toEqual([...want].sort());
      total += want.size;
    });
  }
  it('the traces name hosts at all: a node status answer, a query answer and a Windows 10 refresh', () => {
    expect(total).toBeGreaterThanOrEqual(3);
  });
});

/** address|name of every host name (not an address) in a DCE/RPC answer's TCP string bindings, by the answering address. */
function bindingNames(file: string): Set<string> {
  const r = spawnSync('tshark', ['-n', '-r', file, '-Y', 'dcerpc.pkt_type == 2 && dcom.dualstringarray.network_addr', '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|', '-e', 'ip.src', '-e', 'dcom.dualstringarray.tower_id', '-e', 'dcom.dualstringarray.network_addr'], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  const out = new Set<string>();
  for (const line of r.stdout.trim().split('\n').filter(Boolean)) {
    const [src, towers, addrs] = line.split('\t');
    const t = towers.split('|');
    addrs.split('|').forEach((a, i) => {
      const m = /^([A-Za-z0-9.:_-]+)\[\d{1,5}\]$/.exec(a);
      if (m && Number(t[i]) === 7 && !/^\d{1,3}(\.\d{1,3}){3}$/.test(m[1])) out.add(`${src}|${m[1].toLowerCase()}`);
    });
  }
  return out;
}

describe.skipIf(!HAVE_TSHARK)('DCOM string-binding names = tshark', () => {
  // (dcom-wmi.pcap's RemoteCreateInstance answer carries its bindings in activation properties tshark does not dissect.)
  const files = [path.join(ROOT, 'test/fixtures/dcom/dcom-oxid.pcap'), ...(HAVE_SHARED ? [shared('public/suricata-dcerpc-dcerpc-ctxids-input.pcap')] : [])];
  for (const f of files) {
    it(path.basename(f), () => {
      const want = bindingNames(f);
      expect(want.size).toBeGreaterThan(0);
      expect([...ours(f, 'dcom-binding')].sort()).toEqual([...want].sort());
    });
  }
});
