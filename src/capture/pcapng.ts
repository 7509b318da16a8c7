import { u16, u32 } from './bytes';
import { CaptureDamage } from './errors';
import type { CaptureWarning, PacketSink } from './sink';
import { isSaneSecond, splitTimestamp, unitsPerSecondFromTsresol } from './timestamp';
import { MAX_RECORD, type RecordWalker } from './walker';

// Block types (pcapng draft, section 11.1).
const enum Block {
  SectionHeader = 0x0a0d0d0a,
  InterfaceDescription = 0x00000001,
  ObsoletePacket = 0x00000002,
  SimplePacket = 0x00000003,
  EnhancedPacket = 0x00000006,
}
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_END = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;
const MAX_WARNINGS = 20;

/**
 * pcapng: a sequence of blocks in one or more sections. Every section has its own
 * byte order and its own interfaces; each interface has a link type, a snaplen and a
 * timestamp resolution. Unknown block types are skipped by their length.
 */
export class PcapNgWalker implements RecordWalker {
  readonly format = 'pcapng';
  needed = 12;
  packets = 0;
  sections = 0;
  readonly linkTypes = new Set<number>();
  readonly warnings: CaptureWarning[] = [];
  private le = true;
  private inSection = false;
  // Interfaces of the current section, indexed by interface id.
  private ifLinkType: number[] = [];
  private ifUnits: number[] = [];
  private ifOffset: number[] = [];
  private ifSnap: number[] = [];
  private lastSec = 0;
  private lastNsec = 0;
  private readonly ts = new Float64Array(2);
  private badInterfaceCount = 0;
  /** Packets whose timestamp was impossible (given the previous packet's time). */
  badTimes = 0;

  walk(buf: Buffer, start: number, end: number, base: number, sink: PacketSink): number {
    let o = start;
    for (;;) {
      if (end - o < 12) {
        this.needed = 12;
        return o;
      }
      let type = u32(buf, o, this.le);
      if (type === Block.SectionHeader) {
        // The byte-order magic decides how to read everything in this section, the
        // block's own length included.
        const bomLe = u32(buf, o + 8, true);
        if (bomLe === BYTE_ORDER_MAGIC) this.le = true;
        else if (u32(buf, o + 8, false) === BYTE_ORDER_MAGIC) this.le = false;
        else throw new CaptureDamage(base + o + 8, 'section header block with a bad byte-order magic');
      } else if (!this.inSection) {
        throw new CaptureDamage(base + o, 'pcapng block before any section header');
      }
      const le = this.le;
      type = u32(buf, o, le);
      const len = u32(buf, o + 4, le);
      if (len < 12 || (len & 3) !== 0 || len > MAX_RECORD) {
        throw new CaptureDamage(base + o + 4, `pcapng block of type 0x${type.toString(16)} has a bad length ${len}`);
      }
      if (end - o < len) {
        this.needed = len;
        return o;
      }
      if (u32(buf, o + len - 4, le) !== len) {
        throw new CaptureDamage(base + o + len - 4, `pcapng block of type 0x${type.toString(16)} has a trailing length that differs from its leading length ${len}`);
      }
      switch (type) {
        case Block.EnhancedPacket:
          this.enhanced(buf, o, len, base, sink);
          break;
        case Block.SectionHeader:
          this.startSection(buf, o, len, base);
          break;
        case Block.InterfaceDescription:
          this.interface(buf, o, len, base);
          break;
        case Block.SimplePacket:
          this.simple(buf, o, len, base, sink);
          break;
        case Block.ObsoletePacket:
          this.obsolete(buf, o, len, base, sink);
          break;
        default:
          break; // name resolution, statistics, custom, decryption secrets: not ours
      }
      o += len;
    }
  }

  private startSection(buf: Buffer, o: number, len: number, base: number): void {
    if (len < 28) throw new CaptureDamage(base + o + 4, `section header block too short (${len} bytes)`);
    const major = u16(buf, o + 12, this.le);
    if (major !== 1) throw new CaptureDamage(base + o + 12, `unsupported pcapng major version ${major}`);
    this.inSection = true;
    this.sections++;
    this.ifLinkType = [];
    this.ifUnits = [];
    this.ifOffset = [];
    this.ifSnap = [];
  }

  private interface(buf: Buffer, o: number, len: number, base: number): void {
    if (len < 20) throw new CaptureDamage(base + o + 4, `interface description block too short (${len} bytes)`);
    const le = this.le;
    const linkType = u16(buf, o + 8, le);
    let units = 1e6;
    let offset = 0;
    // Options: code u16, length u16, value padded to 4.
    let p = o + 16;
    const optEnd = o + len - 4;
    while (p + 4 <= optEnd) {
      const code = u16(buf, p, le);
      const olen = u16(buf, p + 2, le);
      if (code === OPT_END) break;
      if (p + 4 + olen > optEnd) {
        this.warn(base + p, 'interface option runs past its block; remaining options ignored');
        break;
      }
      if (code === OPT_IF_TSRESOL && olen >= 1) units = unitsPerSecondFromTsresol(buf[p + 4]);
      else if (code === OPT_IF_TSOFFSET && olen >= 8) {
        const hi = u32(buf, le ? p + 8 : p + 4, le) | 0;
        const lo = u32(buf, le ? p + 4 : p + 8, le);
        offset = hi * 4294967296 + lo;
      }
      p += 4 + ((olen + 3) & ~3);
    }
    this.ifLinkType.push(linkType);
    this.ifUnits.push(units);
    this.ifOffset.push(offset);
    this.ifSnap.push(u32(buf, o + 12, le));
    this.linkTypes.add(linkType);
  }

  private enhanced(buf: Buffer, o: number, len: number, base: number, sink: PacketSink): void {
    const le = this.le;
    if (len < 32) throw new CaptureDamage(base + o + 4, `enhanced packet block too short (${len} bytes)`);
    const ifId = u32(buf, o + 8, le);
    const capLen = u32(buf, o + 20, le);
    if (capLen > len - 32) {
      throw new CaptureDamage(base + o + 20, `enhanced packet block claims ${capLen} captured bytes in a ${len}-byte block`);
    }
    if (ifId >= this.ifLinkType.length) return this.unknownInterface(base + o + 8, ifId);
    this.emit(base + o, ifId, u32(buf, o + 12, le), u32(buf, o + 16, le), buf, o + 28, capLen, u32(buf, o + 24, le), sink);
  }

  private obsolete(buf: Buffer, o: number, len: number, base: number, sink: PacketSink): void {
    const le = this.le;
    if (len < 32) throw new CaptureDamage(base + o + 4, `packet block too short (${len} bytes)`);
    const ifId = u16(buf, o + 8, le);
    const capLen = u32(buf, o + 20, le);
    if (capLen > len - 32) {
      throw new CaptureDamage(base + o + 20, `packet block claims ${capLen} captured bytes in a ${len}-byte block`);
    }
    if (ifId >= this.ifLinkType.length) return this.unknownInterface(base + o + 8, ifId);
    this.emit(base + o, ifId, u32(buf, o + 12, le), u32(buf, o + 16, le), buf, o + 28, capLen, u32(buf, o + 24, le), sink);
  }

  private simple(buf: Buffer, o: number, len: number, base: number, sink: PacketSink): void {
    if (len < 16) throw new CaptureDamage(base + o + 4, `simple packet block too short (${len} bytes)`);
    if (this.ifLinkType.length === 0) return this.unknownInterface(base + o, 0);
    const origLen = u32(buf, o + 8, this.le);
    // A simple packet block has no captured length: the smaller of the original
    // length, the room in the block and interface 0's snaplen (pcapng 4.4).
    let capLen = Math.min(origLen, len - 16);
    const snap = this.ifSnap[0];
    if (snap > 0 && capLen > snap) capLen = snap;
    this.packets++;
    // No timestamp in this block: reuse the last one seen so times stay monotonic.
    sink.packet(this.ifLinkType[0], this.lastSec, this.lastNsec, buf, o + 12, capLen, origLen);
  }

  /** `at`: the block's offset in the file, for a warning. */
  private emit(at: number, ifId: number, high: number, low: number, buf: Buffer, off: number, capLen: number, origLen: number, sink: PacketSink): void {
    const ts = this.ts;
    const units = this.ifUnits[ifId];
    if (units === 1e6) {
      // The common case: µs since 1970 (~1.7e15) fits a double exactly.
      const v = high * 4294967296 + low;
      const sec = Math.floor(v / 1e6);
      ts[0] = sec;
      ts[1] = (v - sec * 1e6) * 1000;
    } else {
      splitTimestamp(high, low, units, ts);
    }
    let sec = ts[0] + this.ifOffset[ifId];
    let nsec = ts[1];
    if (!isSaneSecond(sec) || !(nsec >= 0 && nsec < 1e9)) {
      // if_tsresol, if_tsoffset or the block's own words name no real time.
      this.badTimes++;
      if (this.badTimes === 1) {
        this.warn(at, `packet ${this.packets + 1} has an impossible timestamp (${sec} s since 1970 on interface ${ifId}: if_tsresol, if_tsoffset or the block is damaged); such packets get the previous packet's time`);
      }
      sec = this.lastSec;
      nsec = this.lastNsec;
    }
    this.lastSec = sec;
    this.lastNsec = nsec;
    this.packets++;
    sink.packet(this.ifLinkType[ifId], sec, nsec, buf, off, capLen, origLen);
  }

  private unknownInterface(offset: number, ifId: number): void {
    this.badInterfaceCount++;
    if (this.badInterfaceCount === 1) this.warn(offset, `packet names interface ${ifId}, which no interface block described; such packets are skipped`);
  }

  private warn(offset: number, message: string): void {
    if (this.warnings.length < MAX_WARNINGS) this.warnings.push({ offset, message });
  }

  /** Packets skipped because their interface was never described. */
  get skippedPackets(): number {
    return this.badInterfaceCount;
  }
}
