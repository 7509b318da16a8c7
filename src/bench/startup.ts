// The start-up workload (issue 33: "a 56 KB capture in ≤ 0.1 s"): the project's sample analyzed by
// the installed command (dist/cli/exflow.js: the bundle and its code cache), by the same command
// from its files (EXFLOW_NO_BUNDLE=1), beside Node's own start (`node -e 0`: no JavaScript program
// starts faster) and ndpiReader on the same file; whole processes, spawn to exit, on one core and
// on all, rounds alternated, medians.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface StartupSetup {
  root: string;
  rounds: number;
  median: (xs: number[]) => number;
  /** The command that pins a child to one core, or null without taskset. */
  oneCore: string[] | null;
  ndpi: boolean;
}

/** Runs per round: a start is short, and one run is noise. */
const RUNS_PER_ROUND = 5;

function wall(argv: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore', env });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: exit ${r.status}`);
  return s;
}

export function measureStartup(o: StartupSetup): string[] {
  const sample = path.join(o.root, 'samples', 'exchange-org.pcapng');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exflow-bench-start-'));
  const db = path.join(dir, 'start.sqlite');
  const fresh = () => {
    for (const ext of ['', '-wal', '-shm']) fs.rmSync(db + ext, { force: true });
  };
  const installed = [process.execPath, path.join(o.root, 'dist', 'cli', 'exflow.js'), 'analyze', sample, '--db', db, '--quiet'];
  const kinds: { label: string; argv: string[]; env?: NodeJS.ProcessEnv; before?: () => void }[] = [
    { label: 'node -e 0 (Node\'s own start)', argv: [process.execPath, '-e', '0'] },
    { label: 'exflow analyze (bundle, code cache)', argv: installed, before: fresh },
    { label: 'exflow analyze (its files)', argv: installed, env: { ...process.env, EXFLOW_NO_BUNDLE: '1' }, before: fresh },
    ...(o.ndpi ? [{ label: 'ndpiReader -i FILE -q', argv: ['ndpiReader', '-i', sample, '-q'] }] : []),
  ];
  const cores = [{ name: 'all cores', pin: [] as string[] }, ...(o.oneCore ? [{ name: 'one core (taskset -c 0)', pin: o.oneCore }] : [])];
  const times = new Map<string, number[]>();
  try {
    for (let round = 0; round < o.rounds; round++) {
      for (let k = 0; k < RUNS_PER_ROUND; k++) {
        for (const c of cores) {
          for (const kind of kinds) {
            kind.before?.();
            const key = `${c.name}\t${kind.label}`;
            if (!times.has(key)) times.set(key, []);
            times.get(key)!.push(wall([...c.pin, ...kind.argv], kind.env));
          }
        }
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const size = fs.statSync(sample).size;
  const out = [`start-up: ${path.relative(o.root, sample)} (${(size / 1024).toFixed(0)} KB), ${o.rounds} rounds × ${RUNS_PER_ROUND} runs alternated, medians, whole processes`];
  for (const c of cores) {
    out.push(`  ${c.name}:`);
    const m = (label: string) => o.median(times.get(`${c.name}\t${label}`) ?? [NaN]);
    for (const kind of kinds) out.push(`    ${kind.label.padEnd(38)} ${m(kind.label).toFixed(3).padStart(6)} s`);
    const bundled = m(kinds[1].label);
    out.push(`    exflow over Node's own start: ${(bundled / m(kinds[0].label)).toFixed(2)}×; bundle over files: ${(bundled / m(kinds[2].label)).toFixed(2)}×${o.ndpi ? `; over ndpiReader: ${(bundled / m('ndpiReader -i FILE -q')).toFixed(2)}×` : ''} (issue 33: ≤ 0.1 s)`);
  }
  return out;
}
