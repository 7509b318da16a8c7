// Progress of a run on stderr, only when stderr is a terminal and not --quiet:
// file i of N, bytes of the whole run, packets/s, flows, an ETA, and the phases
// after reading. One line, redrawn in place, never wider than 79 columns. Warnings
// printed meanwhile go above it (log()): the bar is wiped, the line written, the bar
// drawn again below — as cli-progress's log() does.

import type { RunProgress } from '../run/progress';

const WIDTH = 79;
const REDRAW_MS = 200;

export class TerminalProgress implements RunProgress {
  private files = 0;
  private total = 0;
  private index = 0;
  private bytes = 0;
  private packets = 0;
  private packetsBefore = 0;
  private flows = 0;
  private started = 0;
  private lastDraw = 0;
  private phaseName: string | null = null;
  private drawn = false;
  /** After stop(): nothing is drawn again (a late update must not leave a bar behind). */
  private stopped = false;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {}

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
    this.draw(true);
  }

  log(line: string): void {
    const had = this.drawn;
    this.wipe();
    this.out.write(line + '\n');
    if (had) this.draw(true);
  }

  update(runBytes: number, packets: number, flows: number): void {
    this.bytes = runBytes;
    this.packets = packets;
    this.flows = flows;
    this.draw(false);
  }

  phase(name: string | null): void {
    this.phaseName = name;
    this.draw(true);
  }

  stop(): void {
    this.wipe();
    this.stopped = true;
  }

  private wipe(): void {
    if (this.drawn) this.out.write('\r' + ' '.repeat(WIDTH) + '\r');
    this.drawn = false;
  }

  private draw(force: boolean): void {
    if (this.stopped) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    const secs = Math.max((now - this.started) / 1000, 1e-3);
    const packets = this.packetsBefore + this.packets;
    const pps = packets / secs;
    const frac = this.total > 0 ? Math.min(this.bytes / this.total, 1) : 0;
    const eta = frac > 0.01 && frac < 1 ? clock((secs / frac) * (1 - frac)) : '--:--';
    const parts = [
      this.files > 1 ? `file ${this.index}/${this.files}` : '',
      this.total > 0 ? `${bar(frac, 10)} ${(frac * 100).toFixed(0).padStart(3)}%` : '',
      this.total > 0 ? `${mb(this.bytes)}/${mb(this.total)} MB` : `${mb(this.bytes)} MB`,
      `${compact(pps)} pkt/s`,
      `${compact(this.flows)} flows`,
      this.phaseName ?? (this.total > 0 ? `ETA ${eta}` : ''),
    ].filter(Boolean);
    const line = parts.join('  ').slice(0, WIDTH);
    this.out.write('\r' + line.padEnd(WIDTH));
    this.drawn = true;
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
