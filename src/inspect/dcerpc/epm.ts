// Endpoint mapper stubs (C706 appendix O; [MS-RPCE] 2.2.1.2.5), NDR and NDR64.
// Only what exflow needs: the tower a client asked ept_map about, the towers an
// ept_map answer returns, and the entries (object, tower, annotation) of an
// ept_lookup answer. Offsets follow the NDR rules exactly: unique pointers are
// referent ids whose pointees are deferred to after the enclosing structure or
// array, conformant arrays carry max_count first, varying ones offset and
// actual_count, and every primitive is aligned to its size from the stub start.

import { decodeTower, type Tower } from './tower';
import { Malformed, WireReader } from './wire';

/** ept_map is declared with range(0, 500) for max_towers; lookups page well below this. */
const MAX_ENTRIES = 500;
/** A tower is a few floors; anything this long is not one. */
const MAX_TOWER = 4096;

export interface EpmEntry {
  tower: Tower;
  annotation: string | null;
}

export interface EpmAnswer {
  entries: EpmEntry[];
  /** Tower pointers that were present but did not decode as towers. */
  badTowers: number;
  status: number;
}

/** Reads a deferred twr_t: [conformance] tower_length, octets. Returns the tower or null. */
function readTower(r: WireReader): Tower | null {
  const maxCount = r.ndrSize();
  r.align(4);
  const len = r.u32();
  if (len > MAX_TOWER || len > maxCount) throw new Malformed('tower length beyond its conformance');
  r.need(len);
  const t = decodeTower(r.buf, r.pos, len);
  r.pos += len;
  return t;
}

/** A conformant varying array's max_count, offset and actual_count; returns actual_count, bounded. */
function arrayCount(r: WireReader): number {
  const max = r.ndrSize();
  const offset = r.ndrSize();
  const actual = r.ndrSize();
  if (actual > MAX_ENTRIES || offset > max || actual > max - offset) throw new Malformed('array counts out of range');
  return actual;
}

/** The context handle [MS-RPCE] 2.2.4.2: 4-byte attributes + 16-byte UUID, aligned 4. */
function skipContextHandle(r: WireReader): void {
  r.align(4);
  r.skip(20);
}

/** ept_map request (opnum 3): returns the tower the client asked about (its interface), or null. */
export function decodeMapRequest(r: WireReader): Tower | null {
  const objRef = r.ndrSize();
  if (objRef !== 0) {
    r.align(4);
    r.skip(16);
  }
  const towerRef = r.ndrSize();
  return towerRef !== 0 ? readTower(r) : null;
}

/** ept_map response: entry handle, num_towers, towers[] (conformant varying array of unique pointers), status. */
export function decodeMapResponse(r: WireReader): EpmAnswer {
  skipContextHandle(r);
  r.ndrU32(); // num_towers
  const actual = arrayCount(r);
  const refs: number[] = [];
  for (let i = 0; i < actual; i++) refs.push(r.ndrSize());
  const entries: EpmEntry[] = [];
  let badTowers = 0;
  for (const ref of refs) {
    if (ref === 0) continue;
    const t = readTower(r);
    if (t) entries.push({ tower: t, annotation: null });
    else badTowers++;
  }
  const status = r.ndrU32();
  return { entries, badTowers, status };
}

/**
 * ept_lookup response: entry handle, num_ents, entries[] (conformant varying array
 * of ept_entry_t: object UUID, tower pointer, annotation as a varying char[64]),
 * then the deferred towers in entry order, then status.
 */
export function decodeLookupResponse(r: WireReader): EpmAnswer {
  skipContextHandle(r);
  r.ndrU32(); // num_ents
  const actual = arrayCount(r);
  const refs: number[] = [];
  const notes: string[] = [];
  for (let i = 0; i < actual; i++) {
    r.align(r.ndr64 ? 8 : 4); // the structure's alignment: its widest member
    r.skip(16); // object UUID
    refs.push(r.ndrSize());
    const aOffset = r.ndrSize();
    const aCount = r.ndrSize();
    if (aOffset > 64 || aCount > 64 - aOffset) throw new Malformed('annotation longer than char[64]');
    notes.push(r.latin1(aCount));
  }
  const entries: EpmEntry[] = [];
  let badTowers = 0;
  refs.forEach((ref, i) => {
    if (ref === 0) return;
    const t = readTower(r);
    if (t) entries.push({ tower: t, annotation: notes[i] || null });
    else badTowers++;
  });
  const status = r.ndrU32();
  return { entries, badTowers, status };
}
