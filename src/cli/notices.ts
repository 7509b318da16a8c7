// What analyze tells the user on standard error besides errors — warnings and notes — grouped:
// a few of each kind, then a count (45 "files overlap" lines for a ring of 46 files said nothing
// the first did not). -v shows every one; -q none (the captures' warnings stay in the database:
// exflow report summary lists them). Errors always show.

/** Lines of one kind shown before the rest are only counted. */
const SHOWN_PER_KIND = 3;

export type Verbosity = 'quiet' | 'normal' | 'verbose';

export class Notices {
  private readonly seen = new Map<string, { shown: number; held: number; example: string }>();

  constructor(
    private readonly verbosity: Verbosity,
    private readonly write: (line: string) => void,
  ) {}

  /**
   * A line for standard error. `kind` groups lines that say the same of different files (none:
   * the line is its own kind). A line that is not a warning or a note is an error: always shown.
   */
  line(text: string, kind: string = text): void {
    const notice = /^exflow: (warning|note): /.test(text);
    if (!notice || this.verbosity === 'verbose') return this.write(text);
    if (this.verbosity === 'quiet') return;
    const k = this.seen.get(kind) ?? { shown: 0, held: 0, example: text };
    this.seen.set(kind, k);
    if (k.shown < SHOWN_PER_KIND) {
      k.shown++;
      this.write(text);
    } else k.held++;
  }

  /** The counts of lines held back, one line per kind (at the end of the command). */
  finish(): void {
    for (const [kind, k] of this.seen) {
      if (k.held === 0) continue;
      const what = /^exflow: note: /.test(k.example) ? 'note' : 'warning';
      this.write(`exflow: ${what}: ${k.held} more like the above (${kind}) not shown; -v shows every one, exflow report summary lists each capture's warnings`);
    }
    this.seen.clear();
  }
}
