// Flow ids as a span: a database's ids are consecutive but where runs interleave or rows went.
/**
 * Whether `ids` (a span of flow ids) spread far wider than the `flows` in it — more than twice and
 * 100,000: a database whose runs interleave, or a hostile one. Stepping through such a span by ids
 * (ship's slices, an export's parts) would meet mostly empty stretches.
 */
export const spreadFar = (ids: number, flows: number): boolean => ids > 2 * flows + 100_000;
