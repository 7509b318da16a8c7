// rules/protection.yaml: every finding cites its source and names only columns and
// values the flows have; a typo is a rules error with the file and line, not a
// finding that silently never fires. The evaluation: every `when` column must match,
// no `unless` column may, list columns match on any element.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { conditionValues, protectionFindings } from '../src/audit/protection';
import { NO_PAYLOAD } from '../src/classify/payload';
import { NO_PROTECTION } from '../src/classify/protection';
import { loadRules } from '../src/rules/load';
import { ROOT, tmpDir } from './helpers';

function withExtra(yaml: string): () => unknown {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'site.yaml'), yaml);
  return () => loadRules([dir]);
}

describe('rules/protection.yaml', () => {
  const rules = loadRules();

  it('every finding has a severity, a title, advice and a citation; the ids are unique', () => {
    expect(rules.protection.length).toBeGreaterThanOrEqual(12);
    expect(new Set(rules.protection.map((p) => p.id)).size).toBe(rules.protection.length);
    for (const p of rules.protection) {
      expect(p.cite.length, p.id).toBeGreaterThan(0);
      expect(p.title.length).toBeGreaterThan(10);
      expect(p.advice.length).toBeGreaterThan(10);
    }
  });

  it('a condition naming a column the flows do not have, a value a column cannot take, or an unknown service is an error with file and line', () => {
    expect(withExtra('protection:\n  - id: typo\n    severity: high\n    title: A finding with a typo\n    advice: none at all\n    when: { ntlm_verison: [v1] }\n    cite: [x]\n')).toThrow(/site\.yaml:\d+: "ntlm_verison" is not a column/);
    expect(withExtra('protection:\n  - id: typo\n    severity: high\n    title: A finding with a typo\n    advice: none at all\n    when: { ntlm_version: [v3] }\n    cite: [x]\n')).toThrow(/"v3" is not a value of ntlm_version/);
    expect(withExtra('protection:\n  - id: typo\n    severity: high\n    title: A finding with a typo\n    advice: none at all\n    when: { service: [mapi] }\n    cite: [x]\n')).toThrow(/unknown service "mapi"/);
    expect(withExtra('protection:\n  - id: typo\n    severity: urgent\n    title: A finding with a typo\n    advice: none at all\n    when: { ntlm_version: [v1] }\n    cite: [x]\n')).toThrow(/severity must be one of/);
    expect(withExtra('protection:\n  - id: nocite\n    severity: low\n    title: A finding without a source\n    advice: none at all\n    when: { ntlm_version: [v1] }\n    cite: []\n')).toThrow(/say where/);
  });

  it('a site rules folder adds a finding or replaces one by id', () => {
    const r = withExtra('protection:\n  - id: ntlm-in-use\n    severity: high\n    title: NTLM is forbidden here\n    advice: Use Kerberos everywhere.\n    when: { auth_mech: [ntlm] }\n    cite: ["site policy 4.2"]\n')() as ReturnType<typeof loadRules>;
    expect(r.protection.find((p) => p.id === 'ntlm-in-use')?.severity).toBe('high');
    expect(r.protection.length).toBe(rules.protection.length);
  });

  const values = (over: Partial<typeof NO_PROTECTION>, service: string | null = null, payload: Partial<typeof NO_PAYLOAD> = {}) =>
    conditionValues(service, { ...NO_PAYLOAD, ...payload }, { ...NO_PROTECTION, ...over });

  it('MAPI over RPC below packet privacy is a finding; at privacy, or another interface, it is not', () => {
    expect(protectionFindings(rules.protection, values({ rpcAuthLevel: 'integrity', authMech: 'ntlm', ntlmVersion: 'v2', ntlmMic: true }, 'mapi-rpc'))).toContain('mapi-rpc-not-encrypted');
    expect(protectionFindings(rules.protection, values({ rpcAuthLevel: 'privacy', authMech: 'kerberos' }, 'mapi-rpc'))).toEqual([]);
    expect(protectionFindings(rules.protection, values({ rpcAuthLevel: 'integrity', authMech: 'kerberos' }, 'ad-replication-rpc'))).toEqual([]);
  });

  it('unless: the endpoint mapper and SMB pipes bind without RPC authentication by design', () => {
    expect(protectionFindings(rules.protection, values({ rpcAuthLevel: 'none' }, 'msrpc-epm'))).toEqual([]);
    expect(protectionFindings(rules.protection, values({ rpcAuthLevel: 'none' }, 'smb'))).toEqual([]);
    expect(protectionFindings(rules.protection, values({ rpcAuthLevel: 'none' }, 'ad-rpc'))).toEqual(['rpc-unauthenticated']);
  });

  it('booleans and list columns: TLS 1.0 offered but 1.3 negotiated is "offered", negotiated is the other finding', () => {
    expect(protectionFindings(rules.protection, values({ tlsClientVersions: 'TLS 1.3,TLS 1.2,TLS 1.1,TLS 1.0' }, 'https', { tls: 'implicit', tlsVersion: 'TLS 1.3' }))).toEqual(['tls-legacy-offered']);
    expect(protectionFindings(rules.protection, values({ tlsClientVersions: 'TLS 1.2,TLS 1.1,TLS 1.0' }, 'https', { tls: 'implicit', tlsVersion: 'TLS 1.0' }))).toEqual(['tls-legacy-negotiated']);
    expect(protectionFindings(rules.protection, values({ authMech: 'ntlm', ntlmVersion: 'v2', ntlmMic: true, ntlmChannelBindings: false }, 'https', { tls: 'implicit' }))).toEqual(['ntlm-in-use', 'ntlm-no-channel-binding']);
    expect(protectionFindings(rules.protection, values({ smbDialect: '3.1.1', smbSigning: 'enabled', smbEncrypted: true }, 'smb'))).toEqual([]);
    expect(protectionFindings(rules.protection, values({ smbDialect: '3.1.1', smbSigning: 'enabled', smbEncrypted: false }, 'smb'))).toEqual(['smb-signing-not-required']);
  });

  it('the shipped file is the one in the repository (no finding is written in code)', () => {
    const text = fs.readFileSync(path.join(ROOT, 'rules', 'protection.yaml'), 'utf8');
    for (const p of rules.protection) expect(text).toContain(`id: ${p.id}`);
  });
});
