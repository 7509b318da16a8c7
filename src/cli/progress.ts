import { SingleBar } from 'cli-progress';

/** A progress bar on stderr, only when stderr is a terminal and not --quiet. */
export class Progress {
  private bar: SingleBar | null = null;
  private started = 0;

  constructor(private readonly enabled: boolean) {}

  start(label: string, total: number): void {
    if (!this.enabled) return;
    this.started = Date.now();
    this.bar = new SingleBar(
      {
        format: `${label.length > 40 ? '…' + label.slice(-39) : label} [{bar}] {percentage}% | {mb}/{totalMb} MB | {pps} pkt/s | {flows} flows`,
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
        barsize: 24,
      },
    );
    this.bar.start(total, 0, { mb: '0', totalMb: (total / 1e6).toFixed(1), pps: 0, flows: 0 });
  }

  update(bytes: number, packets: number, flows: number): void {
    if (!this.bar) return;
    const secs = (Date.now() - this.started) / 1000;
    this.bar.update(bytes, { mb: (bytes / 1e6).toFixed(1), pps: secs > 0 ? Math.round(packets / secs) : 0, flows });
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
