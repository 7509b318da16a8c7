// The protection audit's columns against tshark's dissection, connection by
// connection: on the lab captures made with real software (test/fixtures/protection,
// make-protection.sh) and on the public traces in ../shared/captures. For every TCP
// connection where tshark shows an NTLM AUTHENTICATE, a DCE/RPC bind, an SMB
// NEGOTIATE, an LDAP bind, a cleartext login or a ClientHello's supported_versions,
// exflow's row must say the same; a connection tshark shows none of these on must
// have them NULL.
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HAVE_SHARED, HAVE_TSHARK, ROOT, runCli, shared, tmpDir } from './helpers';

const LAB = path.join(ROOT, 'test', 'fixtures', 'protection');
const LAB_CAPTURES = ['rpc-auth-levels.pcap', 'ldap-binds.pcap', 'ldap-bind-cases.pcap', 'ldap-bind-gap.pcap', 'smb-sessions.pcap', 'cleartext-logins.pcap'].map((f) => path.join(LAB, f));
const PUBLIC = [
  'public/arkime-wireshark-smb-on-windows10.pcap',
  'public/suricata-bug-5133-input.pcap',
  'public/suricata-bug-5162-input.pcap',
  'public/suricata-dcerpc-zerologon-input.pcap',
  'public/suricata-smb2-07-20171220_smb_psexec_add_user.pcap',
  'public/zeek-dce-rpc-kerberos135_auth.pcapng',
  'public/zeek-dce-rpc-20-fids.pcap',
  'public/zeek-dce-rpc-cs_window7-join_stream092.pcap',
  'public/zeek-ldap-aduser1.pcap',
  'public/zeek-ldap-gap-data-missing.pcapng',
  'public/suricata-krb5-request-frag-log-krb5-frag.pcap',
  'public/ndpi-imap.pcap',
  'public/ndpi-pop3.pcap',
  'public/ndpi-smtp-starttls.pcap',
  'public/ndpi-imaps.pcap',
  'lab/lab-ad-epm.pcap',
];

const LEVELS = ['none', 'connect', 'call', 'packet', 'integrity', 'privacy'];
const AUTH_TYPES: Record<string, string> = { '0': 'none', '9': 'spnego', '10': 'ntlmssp', '14': 'schannel', '16': 'kerberos', '68': 'netlogon', '255': 'default' };
const TLS: Record<string, string> = { '0x0301': 'TLS 1.0', '0x0302': 'TLS 1.1', '0x0303': 'TLS 1.2', '0x0304': 'TLS 1.3', '0x0300': 'SSL 3.0' };
const SMB2: Record<string, string> = { '0x0202': '2.0.2', '0x0210': '2.1', '0x0300': '3.0', '0x0302': '3.0.2', '0x0311': '3.1.1' };

/** What tshark says of one connection, in exflow's column terms (only what it shows). */
type Expected = Record<string, string | number | null>;

const FIELDS = [
  'tcp.stream', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport',
  'ntlmssp.messagetype', 'ntlmssp.auth.username', 'ntlmssp.auth.domain', 'ntlmssp.auth.hostname', 'ntlmssp.auth.ntresponse', 'ntlmssp.ntlmv2_response.channel_bindings', 'ntlmssp.ntlmv2_response.flags',
  'dcerpc.pkt_type', 'dcerpc.auth_level', 'dcerpc.auth_type', 'netlogon.opnum',
  'smb2.cmd', 'smb2.flags.response', 'smb2.dialect', 'smb2.sec_mode.sign_required', 'smb2.sec_mode.sign_enabled', 'smb2.protocol_id',
  'smb.cmd', 'smb.flags.response', 'smb.dialect.index', 'smb.dialect.name', 'smb.sm.sig_required', 'smb.sm.signatures',
  'ldap.simple', 'ldap.mechanism', 'ldap.name', 'ldap.bindRequest_element', 'ldap.authentication', 'ldap.protocolOp', 'ldap.resultCode',
  'ldap.sasl_buffer_length', 'spnego.krb5.sealed', 'ntlmssp.verf.vers', 'ntlmssp.negotiateseal',
  'http.authbasic', 'imap.request.username', 'pop.request.command', 'pop.request.parameter', 'smtp.auth.username', 'smtp.req.command', 'smtp.req.parameter',
  'tls.handshake.type', 'tls.handshake.extensions.supported_version',
];

/** Per connection (addresses and ports, either order), what tshark dissected. */
function tsharkView(file: string): Map<string, Expected> {
  const r = spawnSync('tshark', ['-n', '-r', file, '-Y', 'tcp', '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=|', ...FIELDS.flatMap((f) => ['-e', f])], { encoding: 'utf8', maxBuffer: 1 << 28 });
  expect(r.status).toBe(0);
  const out = new Map<string, Expected>();
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const v = Object.fromEntries(line.split('\t').map((x, i) => [FIELDS[i], x]));
    const key = connKey(v['ip.src'], Number(v['tcp.srcport']), v['ip.dst'], Number(v['tcp.dstport']));
    const e = out.get(key) ?? {};
    out.set(key, e);
    const types = v['ntlmssp.messagetype'].split('|');
    if (types.includes('0x00000003') || types.includes('3')) {
      const user = v['ntlmssp.auth.username'].split('|')[0];
      const domain = v['ntlmssp.auth.domain'].split('|')[0];
      const nt = v['ntlmssp.auth.ntresponse'].split('|')[0];
      const ntLen = nt === '' ? 0 : nt.replace(/:/g, '').length / 2;
      const version = ntLen === 0 && (user === 'NULL' || user === '') ? 'anonymous' : ntLen === 24 ? 'v1' : ntLen > 24 ? 'v2' : null;
      const rank = ['lm', 'v1', 'anonymous', 'v2'];
      if (version && (e.ntlm_version === undefined || rank.indexOf(version) < rank.indexOf(e.ntlm_version as string))) e.ntlm_version = version;
      if (user !== 'NULL' && user !== '' && e.auth_account === undefined) e.auth_account = domain !== 'NULL' && domain !== '' ? `${domain}\\${user}` : user;
      const host = v['ntlmssp.auth.hostname'].split('|')[0];
      if (host !== 'NULL' && host !== '' && e.auth_workstation === undefined) e.auth_workstation = host;
      const cb = v['ntlmssp.ntlmv2_response.channel_bindings'];
      if (version === 'v2') e.ntlm_channel_bindings = cb !== '' && !/^0+$/.test(cb.split('|')[0]) ? 1 : 0;
      // MsvAvFlags 0x2: the AUTHENTICATE carries a MIC ([MS-NLMP] 2.2.2.1); no MsvAvFlags, no MIC.
      const avFlags = v['ntlmssp.ntlmv2_response.flags'].split('|')[0];
      if (version === 'v2' && e.ntlm_mic === undefined) e.ntlm_mic = avFlags !== '' && (parseInt(avFlags, 16) & 2) !== 0 ? 1 : 0;
    }
    const ptypes = v['dcerpc.pkt_type'].split('|');
    const levels = v['dcerpc.auth_level'].split('|');
    const atypes = v['dcerpc.auth_type'].split('|');
    // One value per PDU; a PDU without a trailer has no auth_level (tshark then lists fewer levels than PDUs
    // only when several PDUs share a frame — rare in these traces, and then the frame is skipped).
    // The level is what the requests carried ([MS-RPCE]); a connection without requests, its binds' —
    // an alter_context without a trailer adds a context under the association's security: no level.
    // A request without a trailer is at none or at connect (whose requests carry no verifier): the bind says which.
    if (ptypes.some((p) => p === '0' || p === '11' || (p === '14' && levels[0] !== ''))) {
      if (ptypes.length === 1) {
        const request = ptypes[0] === '0';
        // Netlogon's secure-channel setup travels without RPC authentication by design ([MS-NRPC] 3.1; rules/rpc-interfaces.yaml setup_calls).
        if (request && levels[0] === '' && ['4', '5', '15', '26'].includes(v['netlogon.opnum'])) e.setup = 1;
        else if (request && levels[0] === '') e.bare = 1;
        else {
          const level = levels[0] === '' ? 1 : Number(levels[0]);
          const type = levels[0] === '' ? 'none' : AUTH_TYPES[atypes[0]] ?? atypes[0];
          const k = request ? 'req' : 'bind';
          if (e[`${k}_level`] === undefined || level < (e[`${k}_level`] as number)) {
            e[`${k}_level`] = level;
            e[`${k}_type`] = type;
          }
        }
        const options: [number, unknown][] = [];
        if (e.req_level !== undefined) options.push([e.req_level as number, e.req_type]);
        if (e.bare && e.bind_level !== undefined) options.push((e.bind_level as number) === 1 ? [1, 'none'] : [2, e.bind_type]);
        const best = options.sort((x, y) => x[0] - y[0])[0] ?? (e.setup ? [null, null] : e.bind_level !== undefined ? [e.bind_level as number, e.bind_type] : undefined);
        if (best) [e.rpc_level, e.rpc_auth_type] = best;
      } else e.rpc_skip = 1;
    }
    const cmds = v['smb2.cmd'].split('|');
    const resp = v['smb2.flags.response'].split('|');
    for (let i = 0; i < cmds.length; i++) {
      if (cmds[i] === '0' && resp[i] === '1' && v['smb2.dialect'] && v['smb2.dialect'].split('|').pop() !== '0x02ff') {
        e.smb_dialect = SMB2[v['smb2.dialect'].split('|').pop()!] ?? v['smb2.dialect'];
        e.smb_signing = v['smb2.sec_mode.sign_required'].split('|')[0] === '1' ? 'required' : v['smb2.sec_mode.sign_enabled'].split('|')[0] === '1' ? 'enabled' : 'off';
      }
    }
    if (v['smb2.protocol_id'].split('|').includes('0xfd534d42')) e.smb_encrypted = 1;
    if (v['smb.cmd'].split('|')[0] === '0x72' || v['smb.cmd'].split('|')[0] === '114') {
      if (v['smb.flags.response'] === '0') e.smb1_offered = v['smb.dialect.name'].split('|').includes('NT LM 0.12') ? 1 : 0;
      else if (v['smb.dialect.index'] !== '' && v['smb.dialect.index'] !== '65535') {
        e.smb_dialect = '1';
        e.smb_signing = v['smb.sm.sig_required'] === '1' ? 'required' : v['smb.sm.signatures'] === '1' ? 'enabled' : 'off';
      }
    }
    ldapLayer(e, v);
    // A Sicily package discovery ([9]) is a choice tshark does not name (no authentication field): the next bind says.
    if (v['ldap.bindRequest_element'] && v['ldap.authentication'] !== '' && e.ldap_bind === undefined) {
      if (v['ldap.mechanism']) e.ldap_bind = `sasl-${v['ldap.mechanism'].split('|')[0].toLowerCase()}`;
      else if (SICILY.includes(v['ldap.authentication'])) e.ldap_bind = 'sicily';
      else {
        e.ldap_bind = 'simple'; // tshark leaves ldap.simple empty for an anonymous bind's empty password
        const name = v['ldap.name'].split('|')[0];
        if (name) e.auth_account = name;
      }
    }
    if (v['http.authbasic']) {
      e.auth_mech = 'basic';
      e.auth_account = v['http.authbasic'].split(':')[0];
      e.cleartext_credentials = 1;
    }
    if (v['imap.request.username']) {
      e.auth_account = v['imap.request.username'].replace(/^"|"$/g, '');
      e.cleartext_credentials = 1;
    }
    const pop = v['pop.request.command'].split('|');
    const upper = pop.map((c) => c.toUpperCase());
    if (e.pop_plain === 1 && pop[0]) {
      // The line after a bare "AUTH PLAIN" is its response (tshark shows it as a command).
      const parts = Buffer.from(pop[0], 'base64').toString('utf8').split('\0');
      e.auth_account = parts[1];
      e.cleartext_credentials = parts[2] ? 1 : 0;
      delete e.pop_plain;
    }
    if (upper.includes('AUTH') && v['pop.request.parameter'].split('|')[upper.indexOf('AUTH')].toUpperCase() === 'PLAIN') e.pop_plain = 1;
    if (upper.includes('USER')) e.auth_account = v['pop.request.parameter'].split('|')[upper.indexOf('USER')];
    if (upper.includes('PASS')) e.cleartext_credentials = 1;
    if (v['smtp.auth.username']) e.auth_account = v['smtp.auth.username'].split('|')[0];
    const smtp = v['smtp.req.command'].toUpperCase().split('|');
    if (smtp.includes('AUTH')) {
      // AUTH PLAIN with its initial response: authzid NUL authcid NUL password (tshark decodes it only when the server took it).
      const [mech, token] = v['smtp.req.parameter'].split('|')[smtp.indexOf('AUTH')].split(' ');
      if (mech.toUpperCase() === 'PLAIN' && token) {
        const parts = Buffer.from(token, 'base64').toString('utf8').split('\0');
        e.auth_account = parts[1];
        e.cleartext_credentials = parts[2] ? 1 : 0;
      }
    }
    if (v['tls.handshake.type'].split('|').includes('1') && v['tls.handshake.extensions.supported_version']) {
      e.tls_client_versions = v['tls.handshake.extensions.supported_version'].split(/[|,]/).filter((x) => !/^0x([0-9a-f])a\1a$/.test(x)).map((x) => TLS[x] ?? x).join(',');
    }
  }
  for (const e of out.values()) {
    // Every authenticating bind refused, none accepted: the session never authenticated.
    if (e.ldap_protection === undefined && e.ldap_refused && !e.ldap_bound) e.ldap_protection = 'unbound';
    for (const k of ['ldap_last', 'ldap_bound', 'ldap_refused', 'ldap_seal']) delete e[k];
  }
  return out;
}

/** Sicily's authentication choices ([MS-ADTS] 5.1.1.1.3): package discovery, negotiate, response. */
const SICILY = ['9', '10', '11'];

/**
 * What protected an LDAP session after its bind, from tshark's frames in order ([RFC 4511] 4.2.2,
 * [RFC 4513] 5.2.1.2): the resultCode of the response to an authenticating bind (a SASL round, a
 * Sicily response), then the client's next message — a SASL buffer (a Kerberos wrap token's
 * Sealed flag; NTLM's seal flag from the AUTHENTICATE) or a plain operation (none).
 */
function ldapLayer(e: Expected, v: Record<string, string>): void {
  if (e.ldap_protection !== undefined) return;
  const ops = v['ldap.protocolOp'].split('|');
  if (v['ntlmssp.negotiateseal'].split('|').includes('1')) e.ldap_seal = 1;
  if (ops[0] === '0') {
    const how = v['ldap.authentication'];
    e.ldap_last = v['ldap.mechanism'] || how === '11' ? 'auth' : 'other';
    return;
  }
  if (ops[0] === '1' && e.ldap_last === 'auth') {
    const code = v['ldap.resultCode'].split('|')[0];
    if (code === '0') e.ldap_bound = 1;
    else if (code !== '14') e.ldap_refused = 1;
    e.ldap_last = 'answered';
    return;
  }
  if (!e.ldap_bound || v['tcp.dstport'] !== '389' && v['tcp.dstport'] !== '3268') return;
  if (v['ldap.sasl_buffer_length']) {
    const sealed = v['spnego.krb5.sealed'] ? v['spnego.krb5.sealed'].split('|')[0] === '1' : v['ntlmssp.verf.vers'] ? e.ldap_seal === 1 : undefined;
    if (sealed !== undefined) e.ldap_protection = sealed ? 'sasl-seal' : 'sasl-sign';
  } else if (ops[0] !== '' && ops[0] !== '0') e.ldap_protection = 'none';
}

function connKey(a: string, ap: number, b: string, bp: number): string {
  return a < b || (a === b && ap < bp) ? `${a}:${ap}|${b}:${bp}` : `${b}:${bp}|${a}:${ap}`;
}

function exflowRows(file: string): Map<string, Record<string, unknown>> {
  const dir = tmpDir();
  const db = path.join(dir, 'p.sqlite');
  const r = runCli(['analyze', file, '--db', db, '--quiet']);
  expect(r.code, r.stderr).toBeLessThanOrEqual(1);
  const d = new Database(db, { readonly: true });
  const rows = d.prepare("SELECT * FROM flows WHERE transport = 'tcp'").all() as Record<string, unknown>[];
  d.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return new Map(rows.map((x) => [connKey(String(x.client), Number(x.client_port), String(x.server), Number(x.server_port)), x]));
}

/** Every field tshark showed on every connection, as exflow has it. Returns how many fields were compared. */
function compare(file: string): number {
  const theirs = tsharkView(file);
  const ours = exflowRows(file);
  let checked = 0;
  for (const [key, e] of theirs) {
    const row = ours.get(key);
    if (!row) continue; // a connection exflow split or merged differently is the flow tests' business
    const where = `${path.basename(file)} ${key}`;
    const same = (col: string, want: unknown) => {
      expect(row[col], `${where}: ${col}`).toBe(want);
      checked++;
    };
    if (e.ntlm_version !== undefined) same('ntlm_version', e.ntlm_version);
    if (e.auth_account !== undefined) same('auth_account', e.auth_account);
    if (e.auth_workstation !== undefined) same('auth_workstation', e.auth_workstation);
    if (e.ntlm_channel_bindings !== undefined) same('ntlm_channel_bindings', e.ntlm_channel_bindings);
    if (e.ntlm_mic !== undefined) same('ntlm_mic', e.ntlm_mic);
    if (e.rpc_level !== undefined && e.rpc_skip === undefined) {
      same('rpc_auth_level', e.rpc_level === null ? null : LEVELS[(e.rpc_level as number) - 1]);
      same('rpc_auth_type', e.rpc_auth_type);
    }
    if (e.smb_dialect !== undefined) {
      same('smb_dialect', e.smb_dialect);
      same('smb_signing', e.smb_signing);
      same('smb_encrypted', e.smb_encrypted ?? 0);
    }
    if (e.smb1_offered !== undefined) same('smb1_offered', e.smb1_offered);
    if (e.ldap_bind !== undefined) same('ldap_bind', e.ldap_bind);
    if (e.ldap_protection !== undefined) same('ldap_protection', e.ldap_protection);
    if (e.auth_mech !== undefined) same('auth_mech', e.auth_mech);
    if (e.cleartext_credentials !== undefined) same('cleartext_credentials', e.cleartext_credentials);
    if (e.tls_client_versions !== undefined) same('tls_client_versions', e.tls_client_versions);
    // Nothing tshark shows, nothing exflow claims.
    if (Object.keys(e).filter((k) => k !== 'pop_plain').length === 0) {
      for (const col of ['ntlm_version', 'rpc_auth_level', 'smb_dialect', 'ldap_bind', 'cleartext_credentials']) {
        if (row[col] !== null && !(col === 'cleartext_credentials' && row[col] === 0)) expect(row[col], `${where}: ${col} without anything in tshark`).toBeNull();
      }
    }
  }
  return checked;
}

describe.skipIf(!HAVE_TSHARK)('protection columns = tshark, connection by connection: the lab captures', () => {
  for (const f of LAB_CAPTURES) {
    it(path.basename(f), () => {
      // The gap capture is one connection: its bind and layer.
      expect(compare(f)).toBeGreaterThan(path.basename(f) === 'ldap-bind-gap.pcap' ? 1 : 4);
    });
  }

  it('the lab clients\' own record: every RPC bind\'s level and mechanism, by client port', () => {
    const rows = [...exflowRows(LAB_CAPTURES[0]).values()];
    const done = fs.readFileSync(path.join(LAB, 'rpc-auth-levels.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: number; mech: string; port?: number; bind?: string });
    expect(done.length).toBe(14);
    for (const d of done) {
      const row = rows.find((r) => r.client_port === d.port && r.server_port !== 135)!;
      expect(row, `port ${d.port}`).toBeDefined();
      expect(row.rpc_auth_level).toBe(LEVELS[d.level - 1]);
      if (d.level === 1) continue; // level none: impacket sends no trailer, whatever the mechanism
      expect(row.auth_mech).toBe(d.mech === 'kerberos' ? 'kerberos' : 'ntlm');
      // The AUTHENTICATE follows an accepted bind: NTLMv1 and NTLMv2 told apart by the response's length.
      if (d.bind === 'ok' && d.mech !== 'kerberos') expect(row.ntlm_version).toBe(d.mech === 'ntlmv1' ? 'v1' : 'v2');
      if (d.mech === 'kerberos') expect(row.kerberos_spn).toBe('host/dc01.contoso.lab@CONTOSO.LAB');
    }
  });
});

describe('LDAP binds as Windows makes them (issue 31, items 4-6): each case of make-ldap-binds.sh as its client did it', () => {
  const cases = fs.readFileSync(path.join(LAB, 'ldap-bind-cases.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { case: string; port: number; bind: string; mech: string; ntlm_version?: string; protection: string; findings: string[] });
  const rows = (file: string) => {
    const dir = tmpDir();
    const db = path.join(dir, 'l.sqlite');
    expect(runCli(['analyze', path.join(LAB, file), '--db', db, '--quiet']).code).toBeLessThanOrEqual(1);
    const d = new Database(db, { readonly: true });
    const out = d.prepare("SELECT * FROM flows WHERE server_port = 389 AND client = '10.77.0.100'").all() as Record<string, unknown>[];
    d.close();
    fs.rmSync(dir, { recursive: true, force: true });
    return out;
  };
  const facts = (r: Record<string, unknown> | undefined) =>
    r && { bind: r.ldap_bind, mech: r.auth_mech, ntlm_version: r.ntlm_version ?? undefined, protection: r.ldap_protection, findings: r.protection ? String(r.protection).split(',') : [], spn: r.kerberos_spn };
  it('every case: bind, mechanism, NTLM version, what protected the session, and exactly its findings', () => {
    expect(cases.length).toBe(11);
    const got = rows('ldap-bind-cases.pcap');
    for (const c of cases) {
      const { case: name, port, ...want } = c;
      const f = facts(got.find((r) => r.client_port === port));
      expect(f, name).toBeDefined();
      expect({ ...f, spn: undefined }, name).toEqual({ ...want, ntlm_version: want.ntlm_version, spn: undefined });
      // A Kerberos bind's ticket spans two segments: its service principal is read from the whole bind.
      if (c.mech === 'kerberos') expect(f!.spn, name).toBe('ldap/dc1.lab.example@LAB.EXAMPLE');
    }
  });
  it('a bind after a gap in the capture (the big search\'s second segment missing) is still read', () => {
    const [r] = rows('ldap-bind-gap.pcap');
    expect(facts(r)).toEqual({ bind: 'sasl-gss-spnego', mech: 'kerberos', ntlm_version: undefined, protection: 'none', findings: ['ldap-unsigned-sasl'], spn: 'ldap/dc1.lab.example@LAB.EXAMPLE' });
  });
});

describe.skipIf(!HAVE_TSHARK || !HAVE_SHARED)('protection columns = tshark, connection by connection: the public traces', () => {
  for (const f of PUBLIC) {
    it(f, () => {
      compare(shared(f));
    });
  }
  it('the traces hold what the issue counted: RPC authentication levels, NTLM authentications, SMB2 negotiations, cleartext logins', () => {
    let rpc = 0;
    let ntlm = 0;
    let smb2 = 0;
    let clear = 0;
    for (const f of PUBLIC) {
      for (const r of exflowRows(shared(f)).values()) {
        if (r.rpc_auth_level !== null && r.rpc_auth_level !== 'none') rpc++;
        if (r.ntlm_version !== null) ntlm++;
        if (r.smb_dialect !== null && r.smb_dialect !== '1') smb2++;
        if (r.cleartext_credentials === 1) clear++;
      }
    }
    expect(rpc).toBeGreaterThanOrEqual(4);
    expect(ntlm).toBeGreaterThanOrEqual(10);
    expect(smb2).toBeGreaterThanOrEqual(8);
    expect(clear).toBeGreaterThanOrEqual(3);
  });
});
