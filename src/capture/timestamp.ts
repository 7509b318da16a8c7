/**
 * Splits a 64-bit timestamp (high and low 32-bit halves, in units of 1/`unitsPerSecond`)
 * into whole seconds and nanoseconds without BigInt and without losing precision:
 * a nanosecond count since 1970 (~1.7e18) is beyond a double's 2^53, so the division
 * is done in base 2^16 steps whose intermediates stay below 2^53.
 * Results are written to `out[0]` (seconds) and `out[1]` (nanoseconds).
 */
export function splitTimestamp(high: number, low: number, unitsPerSecond: number, out: Float64Array): void {
  const hiQ = Math.floor(high / unitsPerSecond);
  let rem = high - hiQ * unitsPerSecond;
  rem = rem * 65536 + (low >>> 16);
  const q1 = Math.floor(rem / unitsPerSecond);
  rem -= q1 * unitsPerSecond;
  rem = rem * 65536 + (low & 0xffff);
  const q2 = Math.floor(rem / unitsPerSecond);
  rem -= q2 * unitsPerSecond;
  out[0] = hiQ * 4294967296 + q1 * 65536 + q2;
  out[1] = unitsPerSecond === 1e9 ? rem : Math.floor((rem * 1e9) / unitsPerSecond);
}

/** Units per second for a pcapng if_tsresol byte: 10^n, or 2^n when the top bit is set. */
export function unitsPerSecondFromTsresol(tsresol: number): number {
  const n = tsresol & 0x7f;
  return (tsresol & 0x80) !== 0 ? Math.pow(2, n) : Math.pow(10, n);
}

/**
 * The latest second a timestamp may name: 9999-12-31T23:59:59Z, within what every
 * date formatter handles. A packet time outside [0, MAX_SEC] is damage in the
 * file, not a time: the reader warns and gives the packet the previous good time.
 */
export const MAX_SEC = 253402300799;

export function isSaneSecond(sec: number): boolean {
  return sec >= 0 && sec <= MAX_SEC;
}
