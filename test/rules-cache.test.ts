// Issue 11: rules are validated once and cached by the bytes of every rules file;
// a cached set equals a fresh load, and any change to a file is seen at once.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRules, loadRulesCached } from '../src/rules/load';
import { runCli, tmpDir } from './helpers';

describe('compiled rules cache', () => {
  it('a cached rule set is the same as one parsed from the YAML', () => {
    process.env.XDG_CACHE_HOME = tmpDir();
    const fresh = loadRules();
    loadRulesCached([], 'test'); // writes the cache
    const cached = loadRulesCached([], 'test'); // reads it
    expect(fs.readdirSync(path.join(process.env.XDG_CACHE_HOME, 'exflow')).filter((f) => f.startsWith('rules-'))).toHaveLength(1);
    expect(cached.services).toEqual(fresh.services);
    expect([...cached.rpcInterfaces]).toEqual([...fresh.rpcInterfaces]);
    expect([...cached.roles]).toEqual([...fresh.roles]);
    expect(cached.matrix).toEqual(fresh.matrix);
    expect(cached.inference).toEqual(fresh.inference);
    for (const p of [25, 135, 389, 443, 3268, 49152, 64327]) expect(cached.ports.lookup('tcp', p)).toEqual(fresh.ports.lookup('tcp', p));
  });

  it('a changed site rules file is seen at once, and a broken one is reported with file:line', () => {
    const home = tmpDir();
    const site = tmpDir();
    const file = path.join(site, 'site.yaml');
    const service = (port: number) => `services:\n  - id: site-app\n    name: Site application\n    transport: tcp\n    ports: [${port}]\n    cite: ["site policy"]\n`;
    const env = { ...process.env, XDG_CACHE_HOME: home };
    fs.writeFileSync(file, service(40001));
    const show = () => JSON.parse(require('node:child_process').execFileSync(process.execPath, [path.join(__dirname, '..', 'dist', 'cli', 'main.js'), 'rules', 'show', 'services', '--rules', site, '--format', 'json'], { env, encoding: 'utf8' })).services;
    expect(show().find((s: { id: string }) => s.id === 'site-app').ports).toMatch(/40001/);
    fs.writeFileSync(file, service(40002));
    expect(show().find((s: { id: string }) => s.id === 'site-app').ports).toMatch(/40002/);
    fs.writeFileSync(file, service(40002).replace('transport: tcp', 'transport: tpc'));
    const r = runCli(['rules', 'show', 'services', '--rules', site]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/site\.yaml:\d+: .*tpc/);
  });
});
