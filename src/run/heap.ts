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

/** The heap a run aims to stay under (bytes): with the flow table and the payload budget, the 256 MB of docs/memory.md. */
const TARGET = 160 * 1024 * 1024;

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

  /** Collects when the heap has grown past the limit; then the limit is what is left, plus half, at least the target. */
  check(): void {
    if (process.memoryUsage().heapUsed < this.limit) return;
    const gc = collector();
    if (!gc) return;
    gc();
    this.limit = Math.max(TARGET, Math.floor(process.memoryUsage().heapUsed * 1.5));
  }
}
