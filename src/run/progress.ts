// How a run reports its progress (the CLI draws it as a bar on a terminal; a library
// caller passes its own or SILENT), and the timer of its phases.

/** What analyze reports as it goes; the silent one does nothing. */
export interface RunProgress {
  startRun(files: number, totalBytes: number): void;
  file(index: number, path: string, size: number): void;
  update(runBytes: number, packets: number, flows: number): void;
  /** A phase after reading ("writing flows", "judging"), or null to go back to reading. */
  phase(name: string | null): void;
  stop(): void;
  /**
   * A warning or notice, one line: a progress that draws on the terminal writes it above
   * its bar (and draws the bar again below it); without, the line goes to `fallback`.
   */
  log?(line: string, fallback: (line: string) => void): void;
}

export const SILENT: RunProgress = { startRun() {}, file() {}, update() {}, phase() {}, stop() {} };

/**
 * Times the phases of a run (reading, writing flows, judging…) around another
 * progress: `exflow analyze` prints them with EXFLOW_PHASES=1, and the bench reads
 * that line for its per-phase split.
 */
export class PhaseTimes implements RunProgress {
  private readonly spent = new Map<string, number>();
  private current = 'reading';
  private since = process.hrtime.bigint();

  constructor(private readonly inner: RunProgress) {}

  private mark(next: string): void {
    const now = process.hrtime.bigint();
    this.spent.set(this.current, (this.spent.get(this.current) ?? 0) + Number(now - this.since) / 1e9);
    this.current = next;
    this.since = now;
  }

  startRun(files: number, totalBytes: number): void {
    this.since = process.hrtime.bigint();
    this.inner.startRun(files, totalBytes);
  }
  file(index: number, path: string, size: number): void {
    // The next capture of --separate is read after the last one's flows were written.
    if (this.current !== 'reading') this.mark('reading');
    this.inner.file(index, path, size);
  }
  log(line: string, fallback: (line: string) => void): void {
    if (this.inner.log) this.inner.log(line, fallback);
    else fallback(line);
  }
  update(runBytes: number, packets: number, flows: number): void {
    this.inner.update(runBytes, packets, flows);
  }
  phase(name: string | null): void {
    this.mark(name ?? 'reading');
    this.inner.phase(name);
  }
  stop(): void {
    this.mark('done');
    this.inner.stop();
  }

  /** "reading 0.62 s, writing flows 0.41 s, judging 0.55 s" */
  summary(): string {
    return [...this.spent].filter(([k]) => k !== 'done').map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(', ');
  }
}
