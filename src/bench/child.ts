// What the bench's child processes (floor.ts, inspectors.ts) share: one capture file as argument,
// a usage line and exit 64 without it, one line and exit 1 when the run fails.

export function runChild(name: string, main: (file: string) => Promise<void>): void {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write(`usage: ${name}.js CAPTURE\n`);
    process.exitCode = 64;
    return;
  }
  main(file).catch((e) => {
    process.stderr.write(`${name}: ${(e as Error).message}\n`);
    process.exitCode = 1;
  });
}
