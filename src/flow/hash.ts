// 32-bit mixing for flow keys (a multiply-xorshift in the style of murmur's finalizer).

export function mix(h: number, x: number): number {
  h = Math.imul(h ^ x, 0x9e3779b1);
  return h ^ (h >>> 15);
}

/**
 * The last mixing step, as a signed 32-bit integer: an unsigned one is above 2^31 half the time,
 * which V8 keeps as a heap number — one allocated for every packet hashed (16 MB of garbage on the
 * bench's 2M-packet mix). Callers use the bits (a mask, a multiply), never the sign.
 */
export function finalize(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The fields of a decoded packet a flow key is made of. */
export interface FlowKeyFields {
  family: number;
  proto: number;
  src0: number; src1: number; src2: number; src3: number;
  dst0: number; dst1: number; dst2: number; dst3: number;
  sport: number;
  dport: number;
}

/**
 * A flow's hash, the same for both directions: each side's address and port are
 * mixed apart and then added, so swapping the sides gives the same sum.
 */
export function flowHash(p: FlowKeyFields): number {
  const ha = mix(mix(mix(mix(mix(0x1234567, p.src0), p.src1), p.src2), p.src3), p.sport);
  const hb = mix(mix(mix(mix(mix(0x1234567, p.dst0), p.dst1), p.dst2), p.dst3), p.dport);
  return finalize(((ha + hb) | 0) ^ ((p.family << 8) | p.proto));
}

/**
 * Which of `count` shares a flow belongs to (threads: each reads every packet and
 * keeps its share's flows). From the hash's high bits by multiply-shift: the flow
 * table's slots use its low bits, which then stay evenly spread in every share.
 */
export function shareOf(hash: number, count: number): number {
  return Math.floor(((Math.imul(hash, 0x9e3779b1) >>> 0) * count) / 4294967296);
}
