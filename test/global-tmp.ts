// Every temporary directory the tests make (helpers.ts: tmpDir) lies under one directory per
// run, removed when the run ends — 13,256 directories (44 GB) were left in /tmp by earlier runs.
// A run that was killed leaves its directory; the next run removes those whose process is gone.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

const PREFIX = 'exflow-tests-';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The tests run the installed command (dist/cli/exflow.js), which uses the bundle only when it is
 * newer than the files (tsc alone leaves it older): the bundle is made again then, so that the
 * suite runs what `npm run build` gives a user.
 */
function bundleCurrent(): void {
  const dist = path.resolve(__dirname, '..', 'dist');
  const age = (f: string) => fs.statSync(path.join(dist, f), { throwIfNoEntry: false })?.mtimeMs ?? -1;
  if (age('cli/main.js') < 0 || age('exflow-bundle.js') >= age('cli/main.js')) return;
  const r = spawnSync(process.execPath, [path.join(dist, 'build', 'bundle.js')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`making the bundle failed: ${r.stderr}`);
}

export default function setup(): () => void {
  bundleCurrent();
  for (const name of fs.readdirSync(os.tmpdir())) {
    const pid = Number(/^exflow-tests-(\d+)-/.exec(name)?.[1]);
    if (pid && !alive(pid)) fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `${PREFIX}${process.pid}-`));
  // Others may pass through, as through /tmp (a test runs exflow as nobody on a file of its own
  // directory); each test's directory keeps mkdtemp's 0700 unless the test opens it.
  fs.chmodSync(root, 0o755);
  process.env.EXFLOW_TEST_TMP = root;
  return () => fs.rmSync(root, { recursive: true, force: true });
}
