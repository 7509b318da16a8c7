// Keeping the JavaScript heap near what the run holds. V8 collects its old generation
// lazily when the machine has memory to spare: on a flood of short flows (DNS answers,
// Kerberos exchanges) the heap grew to 0.5-0.6 GB of garbage while what the run held
// stayed under 200 MB (measured with node --max-old-space-size=160: the same runs
// finished, sooner). A hard heap limit would end a run with an out-of-memory crash; this
// asks for a full collection instead, when the heap has grown past a target since the
// last one — the target rising with what a collection leaves, so a run that truly
// holds more (a full flow table) is not collected over and over.
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

/**
 * The heap a run lets grow before it first collects (bytes). With node's own ~60 MB, the flow
 * table's 40 MB and the young generation, what keeps a run under the 256 MB of docs/memory.md:
 * with 160 MB the floods of `npm run memory` peaked at 290-420 MB, most of it garbage.
 */
const TARGET = 48 * 1024 * 1024;

let collect: (() => void) | null | undefined;

/** V8's full collection, exposed once for this process (null where the engine refuses). */
function collector(): (() => void) | null {
  if (collect !== undefined) return collect;
  try {
    v8.setFlagsFromString('--expose-gc');
    collect = vm.runInNewContext('gc') as () => void;
  } catch {
    collect = null;
  }
  return collect;
}

export class HeapKeeper {
  private limit = TARGET;

  /**
   * Collects when the heap has grown past the limit; then the limit is what is left plus a
   * headroom of half the target or a quarter of what is left, whichever is more — so a run
   * that truly holds much (a full table of open sessions) is not collected over and over.
   */
  check(): void {
    if (process.memoryUsage().heapUsed < this.limit) return;
    const gc = collector();
    if (!gc) return;
    gc();
    const left = process.memoryUsage().heapUsed;
    this.limit = Math.max(TARGET, left + Math.max(TARGET >> 1, left >> 2));
  }
}
