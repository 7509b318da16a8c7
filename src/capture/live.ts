// Reading an interface (analyze --interface IF): exflow runs a capture process — dumpcap
// (Debian's wireshark-common) or tcpdump — that writes packets to its standard output as they
// come, and reads that as a live stream, as it reads `tcpdump -w - | exflow analyze -`. The
// capture process holds the privileges a capture needs; exflow needs none of its own.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

export type CaptureTool = 'dumpcap' | 'tcpdump';
export const CAPTURE_TOOLS: CaptureTool[] = ['dumpcap', 'tcpdump'];

/** How an interface's capture is named in messages and in the captures table. */
export const interfacePath = (name: string): string => `interface:${name}`;

/** An interface name as the kernel takes it (IFNAMSIZ: at most 15 bytes) or a capture tool's device name (Windows/npcap "\Device\NPF_{…}" aside). */
export const INTERFACE_NAME = /^[A-Za-z0-9._:@-]{1,64}$/;

/** The arguments that make `tool` write `iface`'s packets to standard output, each as soon as it is seen. */
export function toolArgs(tool: CaptureTool, iface: string): string[] {
  // dumpcap writes every packet through to a pipe; tcpdump needs -U (packet-buffered) and
  // --immediate-mode (no kernel buffering) for a quiet link's packets to come at once.
  return tool === 'dumpcap' ? ['-i', iface, '-q', '-w', '-'] : ['-i', iface, '-U', '--immediate-mode', '-w', '-'];
}

/** The first capture tool found on PATH (dumpcap first: it is what tshark users have), or null. */
export function findCaptureTool(): CaptureTool | null {
  for (const t of CAPTURE_TOOLS) if (spawnSync(t, ['--version'], { stdio: 'ignore' }).error === undefined) return t;
  return null;
}

/** How long a capture process whose output has ended may take to exit by itself before it is ended. */
const LINGER_MS = 2000;

/** The most of a capture tool's messages kept (its last lines say why it stopped). */
const STDERR_KEPT = 4096;

export class CaptureProcess {
  readonly stream: Readable;
  private readonly child: ChildProcess;
  private messages = '';
  private stopping = false;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;

  constructor(
    readonly tool: CaptureTool,
    readonly iface: string,
  ) {
    this.child = spawn(tool, toolArgs(tool, iface), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.stream = this.child.stdout!;
    this.child.stderr!.on('data', (b: Buffer) => {
      this.messages = (this.messages + b.toString('utf8')).slice(-STDERR_KEPT);
    });
    this.exited = new Promise((resolve) => {
      this.child.once('error', (error) => resolve({ code: null, signal: null, error }));
      this.child.once('close', (code, signal) => resolve({ code, signal }));
    });
  }

  /** Ends the capture (a signal stopped the run, or the run is over). */
  stop(): void {
    // A process that already ended ended by itself: its reason stands (failure()).
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    // Its output ended by itself (no such interface: dumpcap closes it and exits): it is on its way
    // out and why is its own — killed now, its exit would race ours and its reason be lost (half the
    // time on a fast machine). Ended only if it lingers.
    if (this.stream.readableEnded) {
      const linger = setTimeout(() => this.child.kill('SIGTERM'), LINGER_MS);
      linger.unref();
      this.child.once('close', () => clearTimeout(linger));
      return;
    }
    this.stopping = true;
    this.child.kill('SIGTERM');
  }

  /**
   * Waits for the capture process to end and says why it failed, in one line, or null when it
   * ended because exflow stopped it (or the interface went away cleanly).
   */
  async failure(): Promise<string | null> {
    const e = await this.exited;
    if (e.error) return `${this.tool} could not be started (${(e.error as NodeJS.ErrnoException).code ?? e.error.message}); install Debian's wireshark-common (dumpcap) or tcpdump, or give --capture-tool`;
    if (this.stopping || e.code === 0) return null;
    // Its last two lines: dumpcap says what and then why ("There is no device named …" / "(No such device exists)").
    const last = this.messages.split('\n').map((l) => l.trim()).filter(Boolean).slice(-2).join(' ');
    return `${this.tool} stopped (${e.code !== null ? `exit ${e.code}` : e.signal})${last ? `: ${last}` : ''}`;
  }
}
