// The man page and the shell completions are made from the commands (issue 23, item
// 11): the files shipped in share/ are exactly what `exflow man` and `exflow completion`
// print now (npm run generated makes them again), groff renders the page without a
// warning, and bash completes commands, options and their choices as the commands have them.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli, tmpDir } from './helpers';

const shipped = (p: string) => fs.readFileSync(path.join(ROOT, 'share', p), 'utf8');
/** A database with two sensors' runs (made by the bash test, asked again by fish's). */
let sensorsDb = '';

describe('man page and completions', () => {
  it('share/ holds what the commands generate (run npm run generated after changing a command)', () => {
    expect(shipped('man/exflow.1')).toBe(runCli(['man']).stdout);
    expect(shipped('completion/exflow.bash')).toBe(runCli(['completion', 'bash']).stdout);
    expect(shipped('completion/_exflow')).toBe(runCli(['completion', 'zsh']).stdout);
    expect(shipped('completion/exflow.fish')).toBe(runCli(['completion', 'fish']).stdout);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { man: string[]; files: string[] };
    expect(pkg.man).toEqual(['./share/man/exflow.1']);
    expect(pkg.files).toContain('share');
  });

  it('the page names every command and renders without a warning', () => {
    const page = runCli(['man']).stdout;
    for (const c of ['analyze', 'flows', 'hosts', 'host', 'audit', 'merge', 'export', 'report unexpected', 'report protection', 'report firewall', 'rules show', 'completion']) {
      expect(page).toContain(`.SS "exflow ${c.replace(/-/g, '\\-')}"`);
    }
    if (spawnSync('groff', ['--version']).status !== 0) return;
    const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z'], { input: page, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const text = spawnSync('groff', ['-man', '-Tutf8'], { input: page, encoding: 'utf8' }).stdout.replace(/.\x08/g, '');
    expect(text).toMatch(/--threads/);
    expect(text).toMatch(/→/); // characters beyond ASCII come through
  });

  it('bash completes commands, subcommands, options, their choices, and files elsewhere', () => {
    const script = shipped('completion/exflow.bash');
    expect(spawnSync('bash', ['-n'], { input: script }).status).toBe(0);
    const complete = (...words: string[]) => {
      const probe = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _exflow; printf '%s\\n' "\${COMPREPLY[@]}"`;
      // exflow on the PATH, as an installed one is (its own words are asked of it).
      const bin = tmpDir();
      fs.writeFileSync(path.join(bin, 'exflow'), `#!/bin/sh\nexec '${process.execPath}' '${path.join(ROOT, 'dist', 'cli', 'main.js')}' "$@"\n`, { mode: 0o755 });
      const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
      return spawnSync('bash', ['-c', probe], { encoding: 'utf8', cwd: ROOT, env }).stdout.trim().split('\n').filter(Boolean);
    };
    expect(complete('exflow', 'rep')).toEqual(['report']);
    expect(complete('exflow', 'report', 'un')).toEqual(['unexpected']);
    expect(complete('exflow', 'flows', '--for')).toEqual(['--format']);
    expect(complete('exflow', 'flows', '--format', '')).toEqual(['table', 'tsv', 'csv', 'json', 'md']);
    expect(complete('exflow', 'flows', '--verdict', 'un')).toEqual(['unexpected', 'unknown']);
    expect(complete('exflow', 'report', 'firewall', '--format', 'n')).toEqual(['nft']);
    expect(complete('exflow', 'analyze', '--db', 'x.sqlite', '--th')).toEqual(['--threads']);
    expect(complete('exflow', 'completion', '')).toEqual(['bash', 'zsh', 'fish']);
    expect(complete('exflow', 'analyze', 'sampl')).toEqual(['samples']);
    expect(complete('exflow', 'analyze', '--inventory', 'samples/inv')).toEqual(['samples/inventory.yaml']);
    // exflow's own words (issue 32 item 13): the sections of rules show, and the ids the rules list.
    expect(complete('exflow', 'rules', 'show', '')).toEqual(['services', 'rpc', 'roles', 'matrix', 'http-apps', 'versions', 'protection']);
    expect(complete('exflow', 'flows', '--service', 'smtp')).toEqual(['smtp', 'smtp-submission']);
    expect(complete('exflow', 'report', 'roles', '--role', 'hub')).toEqual(['hub-transport']);
    expect(complete('exflow', 'export', '--finding', 'ntlm')).toEqual(['ntlmv1', 'ntlm-in-use', 'ntlm-no-mic', 'ntlm-no-channel-binding']);
    // --sensor: the sensors of the database on the line.
    const db = path.join(tmpDir(), 'c.sqlite');
    for (const sensor of ['site-a', 'site-b']) expect(runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', db, '--sensor', sensor, '--force', '-q']).code).toBe(0);
    expect(complete('exflow', 'report', 'summary', '--db', db, '--sensor', 'site')).toEqual(['site-a', 'site-b']);
    sensorsDb = db;
  });

  it.skipIf(spawnSync('fish', ['--version']).status !== 0)('fish completes the same words from the same table', () => {
    const bin = tmpDir();
    fs.writeFileSync(path.join(bin, 'exflow'), `#!/bin/sh\nexec '${process.execPath}' '${path.join(ROOT, 'dist', 'cli', 'main.js')}' "$@"\n`, { mode: 0o755 });
    const complete = (line: string) => {
      const r = spawnSync('fish', ['--no-config', '-c', `source share/completion/exflow.fish; complete -C ${JSON.stringify(line)}`], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
      expect(r.stderr).toBe('');
      return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0]);
    };
    expect(complete('exflow rep')).toEqual(['report']);
    expect(complete('exflow report un')).toEqual(['unexpected']);
    expect(complete('exflow flows --for')).toEqual(['--format']);
    expect(complete('exflow flows --format ').sort()).toEqual(['csv', 'json', 'md', 'table', 'tsv']);
    expect(complete('exflow flows --verdict un')).toEqual(['unexpected', 'unknown']);
    expect(complete('exflow flows --service smtp')).toEqual(['smtp', 'smtp-submission']);
    expect(complete('exflow rules show ').sort()).toEqual(['http-apps', 'matrix', 'protection', 'roles', 'rpc', 'services', 'versions']);
    expect(complete('exflow analyze --db x.sqlite --th')).toEqual(['--threads']);
    expect(complete('exflow analyze --inventory samples/inv')).toEqual(['samples/inventory.yaml']);
    expect(complete('exflow completion ').sort()).toEqual(['bash', 'fish', 'zsh']);
    if (sensorsDb) expect(complete(`exflow flows --db ${sensorsDb} --sensor `)).toEqual(['site-a', 'site-b']);
  });
});
