// rules/rpc-interfaces.yaml: loaded, validated with file:line errors, and checked
// against the team's verified reference table (shared/reference/rpc-interfaces.tsv).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRules } from '../src/rules/load';
import { RulesError } from '../src/rules/source';
import { SHARED, tmpDir } from './helpers';

const REFERENCE = path.join(SHARED, '..', 'reference', 'rpc-interfaces.tsv');

describe('rpc interface rules', () => {
  const rules = loadRules();

  it('name the interfaces the issue lists, each mapped to an existing service', () => {
    const byName = new Map([...rules.rpcInterfaces.values()].map((i) => [i.name, i]));
    for (const n of ['epmapper', 'emsmdb', 'asyncemsmdb', 'nspi', 'rfr', 'store-admin', 'sa-public', 'mta', 'xds', 'drsuapi', 'netlogon', 'lsarpc', 'samr', 'dnsserver', 'clusapi', 'iremoteactivation', 'ioxidresolver', 'isystemactivator', 'iwbemlevel1login', 'svcctl', 'winreg', 'srvsvc', 'wkssvc', 'itaskschedulerservice', 'eventlog']) {
      expect(byName.has(n), n).toBe(true);
    }
    for (const i of rules.rpcInterfaces.values()) expect(rules.serviceById.has(i.service), i.name).toBe(true);
    expect(byName.get('emsmdb')!.uuid).toBe('a4f1db00-ca47-1067-b31f-00dd010662da');
    expect(byName.get('nspi')!.uuid).toBe('f5cc5a18-4264-101a-8c59-08002b2f8426');
    expect(byName.get('rfr')!.uuid).toBe('1544f5e0-613c-11d1-93df-00c04fd7bd09');
  });

  it.skipIf(!fs.existsSync(REFERENCE))('every interface of the verified reference table is there, with its version', () => {
    const rows = fs.readFileSync(REFERENCE, 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
    const interfaces = rows.filter((r) => r[3] !== 'transfer-syntax');
    expect(interfaces.length).toBe(61);
    for (const [uuid, version] of interfaces) {
      expect(rules.rpcInterfaces.get(uuid)?.version, uuid).toBe(version);
    }
    // Added since, each with evidence of its own: IWbemLoginClientID (WMI binds it by alter_context before IWbemLevel1Login).
    const added = ['d4781cd6-e5d3-44df-ad94-930efe48a887'];
    for (const uuid of added) expect(rules.rpcInterfaces.get(uuid)?.evidence.length, uuid).toBeGreaterThan(0);
    expect(rules.rpcInterfaces.size).toBe(interfaces.length + added.length);
  });

  it('a bad entry is reported with file, line and field', () => {
    const dir = tmpDir();
    fs.writeFileSync(
      path.join(dir, 'extra.yaml'),
      'rpc_interfaces:\n  - uuid: 11111111-2222-3333-4444-555555555555\n    version: "1.0"\n    name: thing\n    title: Thing\n    service: no-such-service\n    evidence: [x]\n    cite: [y]\n',
    );
    expect(() => loadRules([dir])).toThrow(RulesError);
    expect(() => loadRules([dir])).toThrow(/extra\.yaml:6: .*unknown service "no-such-service"/);
    fs.writeFileSync(path.join(dir, 'extra.yaml'), 'rpc_interfaces:\n  - uuid: not-a-uuid\n    version: "1.0"\n    name: thing\n    title: Thing\n    service: smb\n    evidence: [x]\n    cite: [y]\n');
    expect(() => loadRules([dir])).toThrow(/extra\.yaml:2: .*not a UUID/);
  });
});
