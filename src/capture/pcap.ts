import { u16, u32 } from './bytes';
import { isSaneSecond } from './timestamp';
import { MAX_RECORD } from './walker';
import { CaptureDamage } from './errors';
import type { CaptureWarning, PacketSink } from './sink';
import type { RecordWalker } from './walker';

const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;
/** libpcap's own ceiling when a file's snaplen is 0 (unset). */
const DEFAULT_SNAPLEN = 262144;

/**
 * Classic libpcap files: a 24-byte global header, then 16-byte record headers each
 * followed by captured bytes. Both byte orders; microsecond and nanosecond magics.
 */
export class PcapWalker implements RecordWalker {
  readonly format: string;
  needed = GLOBAL_HEADER;
  packets = 0;
  readonly linkTypes = new Set<number>();
  readonly warnings: CaptureWarning[] = [];
  private headerDone = false;
  /** Records whose fraction was a second or more. */
  badTimes = 0;
  /** Records longer than the header's snaplen (read all the same). */
  overSnaplen = 0;
  private linkType = 0;
  private snapLen = DEFAULT_SNAPLEN;
  private readonly nsPerUnit: number;

  constructor(
    private readonly le: boolean,
    nano: boolean,
  ) {
    this.format = nano ? 'pcap-ns' : 'pcap';
    this.nsPerUnit = nano ? 1 : 1000;
  }

  /**
   * The header's snaplen is a claim, not a limit: tshark and capinfos read such a
   * record, and so does exflow (the 64 MiB bound is the guard against damage). Out of
   * the record loop, which stays small enough to be inlined whole.
   */
  private longerThanSnaplen(offset: number, record: number, capLen: number): void {
    if (this.overSnaplen++ === 0) this.warnings.push({ offset, message: `record ${record} holds ${capLen} captured bytes, more than the file header's snaplen ${this.snapLen}; read anyway (the snaplen is advisory)` });
  }

  walk(buf: Buffer, start: number, end: number, base: number, sink: PacketSink): number {
    const le = this.le;
    let o = start;
    if (!this.headerDone) {
      if (end - o < GLOBAL_HEADER) {
        this.needed = GLOBAL_HEADER;
        return o;
      }
      const snap = u32(buf, o + 16, le);
      this.snapLen = snap === 0 ? DEFAULT_SNAPLEN : snap;
      // The upper bits of the link-type word carry FCS information (pcap spec, LinkType field).
      this.linkType = u32(buf, o + 20, le) & 0x0fffffff;
      this.linkTypes.add(this.linkType);
      const major = u16(buf, o + 4, le);
      if (major !== 2) {
        this.warnings.push({ offset: base + o + 4, message: `unusual pcap version ${major}.${u16(buf, o + 6, le)}` });
      }
      this.headerDone = true;
      o += GLOBAL_HEADER;
    }
    const linkType = this.linkType;
    const snapLen = this.snapLen;
    const nsPerUnit = this.nsPerUnit;
    let packets = this.packets;
    for (;;) {
      if (end - o < RECORD_HEADER) {
        this.needed = RECORD_HEADER;
        break;
      }
      const capLen = u32(buf, o + 8, le);
      if (capLen > MAX_RECORD) {
        this.packets = packets;
        throw new CaptureDamage(base + o, `record ${packets + 1} claims ${capLen} captured bytes, more than the ${MAX_RECORD / 1048576} MiB any record may have`);
      }
      if (capLen > snapLen) this.longerThanSnaplen(base + o, packets + 1, capLen);
      const total = RECORD_HEADER + capLen;
      if (end - o < total) {
        this.needed = total;
        break;
      }
      let sec = u32(buf, o, le);
      let nsec = u32(buf, o + 4, le) * nsPerUnit;
      if (nsec >= 1e9) {
        // A fraction of a second of a second or more: damage in the record header. Carried into the seconds.
        this.badTimes++;
        if (this.badTimes === 1) this.warnings.push({ offset: base + o + 4, message: `record ${packets + 1} has a fraction of ${u32(buf, o + 4, le)} ${nsPerUnit === 1 ? 'ns' : 'µs'}, a second or more; such fractions are carried into the seconds` });
        sec += Math.floor(nsec / 1e9);
        nsec %= 1e9;
        if (!isSaneSecond(sec)) sec = u32(buf, o, le);
      }
      packets++;
      sink.packet(linkType, sec, nsec, buf, o + RECORD_HEADER, capLen, u32(buf, o + 12, le));
      o += total;
    }
    this.packets = packets;
    return o;
  }
}
