// Progress of a run on stderr, only when stderr is a terminal and not --quiet:
// file i of N, bytes of the whole run, packets/s, flows, an ETA, and the phases
// after reading. Drawn by cli-progress (one bar of a MultiBar: it redraws in place at most
// five times a second, clears the line when stopped and prints log() lines above the bar);
// exflow gives it the line, as wide as the terminal, the bar taking the room the rest leaves.

import { MultiBar, type SingleBar } from 'cli-progress';
import type { RunProgress } from '../run/progress';

/** The bar's width between the brackets: at least this, at most MAX_BAR, else what the terminal leaves. */
const MIN_BAR = 10;
const MAX_BAR = 60;

export class TerminalProgress implements RunProgress {
  private files = 0;
  private total = 0;
  private index = 0;
  private bytes = 0;
  private packets = 0;
  private packetsBefore = 0;
  private flows = 0;
  private started = 0;
  private phaseName: string | null = null;
  private readonly bars: MultiBar;
  private bar: SingleBar | null = null;
  /** After stop(): nothing is drawn again (a late update must not leave a bar behind). */
  private stopped = false;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {
    this.bars = new MultiBar({
      stream: out,
      format: () => this.line(),
      fps: 5,
      clearOnComplete: true,
      hideCursor: false,
      // exflow's line fits the terminal itself; wrapping stays the terminal's own.
      linewrap: true,
      // exflow's own signal handling stops the bar (stopOnSignals): cli-progress adds none.
      gracefulExit: false,
      forceRedraw: true,
    });
  }

  startRun(files: number, totalBytes: number): void {
    this.files = files;
    this.total = totalBytes;
    this.started = Date.now();
  }

  file(index: number, _path: string, _size: number): void {
    this.packetsBefore += this.packets;
    this.packets = 0;
    this.index = index;
    // Reading again (--separate): the last file's "writing flows" is over.
    this.phaseName = null;
    this.draw();
  }

  log(line: string): void {
    if (this.bar === null) {
      this.out.write(line + '\n');
      return;
    }
    // Above the bar, at once (cli-progress prints its log at the next redraw: that is now).
    this.bars.log(line + '\n');
    this.bars.update();
  }

  update(runBytes: number, packets: number, flows: number): void {
    this.bytes = runBytes;
    this.packets = packets;
    this.flows = flows;
    // Drawn by cli-progress's own timer (five times a second).
    if (this.bar === null) this.draw();
  }

  phase(name: string | null): void {
    this.phaseName = name;
    this.draw();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.bar !== null) this.bars.stop();
  }

  /** Shows the bar now (started the first time). */
  private draw(): void {
    if (this.stopped) return;
    if (this.bar === null) this.bar = this.bars.create(1, 0);
    this.bars.update();
  }

  /** The line cli-progress draws: as wide as the terminal (less one column), the bar filling what the rest leaves. */
  private line(): string {
    const width = Math.max(40, (this.out.columns || 80) - 1);
    const secs = Math.max((Date.now() - this.started) / 1000, 1e-3);
    const packets = this.packetsBefore + this.packets;
    const frac = this.total > 0 ? Math.min(this.bytes / this.total, 1) : 0;
    const eta = frac > 0.01 && frac < 1 ? clock((secs / frac) * (1 - frac)) : '--:--';
    const parts = (barText: string) =>
      [
        this.files > 1 ? `file ${this.index}/${this.files}` : '',
        barText,
        this.total > 0 ? `${mb(this.bytes)}/${mb(this.total)} MB` : `${mb(this.bytes)} MB`,
        `${compact(packets / secs)} pkt/s`,
        `${compact(this.flows)} flows`,
        this.phaseName ?? (this.total > 0 ? `ETA ${eta}` : ''),
      ]
        .filter(Boolean)
        .join('  ');
    if (this.total <= 0) return parts('').slice(0, width);
    const percent = `${(frac * 100).toFixed(0).padStart(3)}%`;
    const room = width - parts(`[] ${percent}`).length;
    return parts(`${bar(frac, Math.max(MIN_BAR, Math.min(MAX_BAR, room)))} ${percent}`).slice(0, width);
  }
}

function bar(frac: number, width: number): string {
  const full = Math.round(frac * width);
  return '[' + '#'.repeat(full) + '.'.repeat(width - full) + ']';
}

function mb(n: number): string {
  return (n / 1e6).toFixed(n < 1e8 ? 1 : 0);
}

function compact(n: number): string {
  if (n >= 1e6) return (n / 1e6).toFixed(2) + 'M';
  if (n >= 1e4) return (n / 1e3).toFixed(0) + 'k';
  return String(Math.round(n));
}

function clock(s: number): string {
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return (h > 0 ? `${h}:${String(m).padStart(2, '0')}` : String(m)) + ':' + String(sec).padStart(2, '0');
}
