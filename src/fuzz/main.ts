#!/usr/bin/env node
// npm run fuzz -- --inputs N --seed S [--seeds DIR ...] [--crash-dir DIR]
// Long fuzz runs of the whole pipeline (see harness.ts); exit 1 on any failure.
import * as path from 'node:path';
import { runFuzz } from './harness';

function args(argv: string[]): { inputs: number; seed: number; seeds: string[]; crashDir: string } {
  const root = path.resolve(__dirname, '..', '..');
  const o = { inputs: 100_000, seed: 1, seeds: [] as string[], crashDir: path.join(root, 'fuzz-crashers') };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--inputs') o.inputs = Number(v);
    else if (argv[i] === '--seed') o.seed = Number(v);
    else if (argv[i] === '--seeds') o.seeds.push(v);
    else if (argv[i] === '--crash-dir') o.crashDir = v;
    else if (argv[i] === '--help' || argv[i] === '-h') {
      process.stdout.write('usage: npm run fuzz -- [--inputs N] [--seed S] [--seeds DIR]... [--crash-dir DIR]\n  seeds default: ../shared/captures, samples/ and test/fixtures/\n');
      process.exit(0);
    } else {
      process.stderr.write(`fuzz: unknown argument ${argv[i]}\n`);
      process.exit(64);
    }
    i++;
  }
  if (!Number.isSafeInteger(o.inputs) || o.inputs < 1 || !Number.isSafeInteger(o.seed)) {
    process.stderr.write('fuzz: --inputs and --seed take whole numbers\n');
    process.exit(64);
  }
  if (o.seeds.length === 0) o.seeds = [path.resolve(root, '..', 'shared', 'captures'), path.join(root, 'samples'), path.join(root, 'test', 'fixtures')];
  return o;
}

async function main(): Promise<void> {
  const o = args(process.argv.slice(2));
  const log = (l: string) => process.stdout.write(l + '\n');
  log(`fuzz: ${o.inputs} inputs, seed ${o.seed}, seeds from ${o.seeds.join(', ')}`);
  const s = await runFuzz({ inputs: o.inputs, seed: o.seed, seedDirs: o.seeds, crashDir: o.crashDir, log });
  log(`fuzz: ${s.inputs} inputs from ${s.seeds} seed captures in ${s.seconds.toFixed(0)} s (${Math.round(s.inputs / s.seconds)}/s); by kind: ${Object.entries(s.byKind).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  log(`fuzz: ${s.crashes} crashes, ${s.hangs} hangs (slowest input ${s.slowestMs} ms), ${s.lostRecords} lost intact records, ${s.oracleFailures} other oracle failures, ${s.reportRuns} runs through analyze and every report`);
  if (s.crashes + s.hangs + s.lostRecords + s.oracleFailures > 0) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`fuzz: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
