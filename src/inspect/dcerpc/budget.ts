/**
 * One byte budget shared by every RPC inspector of a run, so the reassembly
 * buffers of many RPC flows together stay within a fixed bound whatever the
 * capture holds. A buffer that cannot get its bytes gives up on its direction
 * (and says so) instead of growing.
 */
export class ByteBudget {
  used = 0;
  refusals = 0;

  constructor(readonly limit: number) {}

  take(n: number): boolean {
    if (this.used + n > this.limit) {
      this.refusals++;
      return false;
    }
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used -= n;
  }
}
