// Every temporary directory the tests make (helpers.ts: tmpDir) lies under one directory per
// run, removed when the run ends — 13,256 directories (44 GB) were left in /tmp by earlier runs.
// A run that was killed leaves its directory; the next run removes those whose process is gone.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const PREFIX = 'exflow-tests-';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export default function setup(): () => void {
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
