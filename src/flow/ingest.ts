import type { PacketSink } from '../capture/sink';
import { PacketDecoder } from '../decode/decoder';
import { Decoded } from '../decode/packet';
import { flowHash, shareOf } from './hash';
import type { FlowTable } from './table';

/** Packet counts by what the decoder made of them; nothing is dropped without a count. */
export interface IngestCounters {
  packets: number;
  bytes: number;
  /** Packets accounted to a TCP/UDP flow (first fragments included). */
  flowPackets: number;
  /** Later IP fragments accounted to their datagram's flow. */
  fragmentPackets: number;
  /** Later IP fragments whose first fragment was not seen (no ports to attribute them by). */
  unattributedFragments: number;
  /** IP packets that are not TCP/UDP (ICMP, ESP, OSPF, ...) or whose transport header was cut off. */
  otherIpPackets: number;
  /** Not IP at all (ARP, LLDP, STP, ...). */
  nonIpPackets: number;
  /** Headers broken or cut before the IP addresses. */
  malformedPackets: number;
  /** Packets on a link type the decoder does not know. */
  unknownLinkPackets: number;
  /** Records with no captured bytes at all (counted, nothing to decode). */
  emptyRecords: number;
}

/** The per-packet path: decode, then account to the flow table. Allocation-free. */
function zeroCounters(): IngestCounters {
  return {
    packets: 0,
    bytes: 0,
    flowPackets: 0,
    fragmentPackets: 0,
    unattributedFragments: 0,
    otherIpPackets: 0,
    nonIpPackets: 0,
    malformedPackets: 0,
    unknownLinkPackets: 0,
    emptyRecords: 0,
  };
}

export class PacketIngest implements PacketSink {
  readonly decoder = new PacketDecoder();
  /** Counts of the capture file being read (beginCapture starts a new set). */
  counters: IngestCounters = zeroCounters();
  unknownLinkTypes = new Set<number>();
  firstSec = Infinity;
  firstNsec = 0;
  lastSec = -Infinity;
  lastNsec = 0;

  /**
   * @param share with threads, which share of the flows this ingest keeps ({ index, count }):
   *   each thread reads every packet; a flow's packets go to the table of the share its
   *   5-tuple hashes to (both directions alike), the others only move that table's clock.
   *   A later IP fragment, which has no ports, is offered to every share's table: the one
   *   that saw its first fragment takes it (unattributedFragments then counts, per share,
   *   the fragments it did not take; the run counts the total once).
   */
  constructor(
    private readonly table: FlowTable,
    private readonly share: { index: number; count: number } = { index: 0, count: 1 },
  ) {}

  /** The next capture file of the stream: its own counts (the decoder's too) and time range; the flow table carries on. */
  beginCapture(position: number): void {
    this.counters = zeroCounters();
    this.unknownLinkTypes = new Set<number>();
    this.firstSec = Infinity;
    this.firstNsec = 0;
    this.lastSec = -Infinity;
    this.lastNsec = 0;
    this.table.currentFile = position;
    this.decoder.tooDeep = 0;
    this.decoder.tooManyExtensions = 0;
  }

  packet(linkType: number, sec: number, nsec: number, buf: Buffer, off: number, capLen: number, origLen: number): void {
    const c = this.counters;
    c.packets++;
    c.bytes += origLen;
    if (sec < this.firstSec || (sec === this.firstSec && nsec < this.firstNsec)) {
      this.firstSec = sec;
      this.firstNsec = nsec;
    }
    if (sec > this.lastSec || (sec === this.lastSec && nsec > this.lastNsec)) {
      this.lastSec = sec;
      this.lastNsec = nsec;
    }
    if (capLen === 0) {
      c.emptyRecords++;
      return;
    }
    const r = this.decoder.decode(linkType, buf, off, capLen);
    switch (r) {
      case Decoded.Transport:
        // With threads the flow's hash picks its share, and the table takes it as it is (computed once).
        const h = flowHash(this.decoder.p);
        if (this.share.count > 1 && shareOf(h, this.share.count) !== this.share.index) {
          this.table.tick(sec);
          if (this.decoder.p.firstFragment) this.table.forgetFragmentSlot(this.decoder.p);
          break;
        }
        c.flowPackets++;
        this.table.add(this.decoder.p, sec, nsec, origLen, buf, h);
        break;
      case Decoded.Fragment: {
        const p = this.decoder.p;
        if ((p.proto === 6 || p.proto === 17) && this.table.addFragment(p, sec, nsec, origLen)) c.fragmentPackets++;
        else if (p.proto === 6 || p.proto === 17) c.unattributedFragments++;
        else c.otherIpPackets++;
        break;
      }
      case Decoded.OtherIp:
        c.otherIpPackets++;
        break;
      case Decoded.NotIp:
        c.nonIpPackets++;
        break;
      case Decoded.Malformed:
        c.malformedPackets++;
        break;
      default:
        c.unknownLinkPackets++;
        this.unknownLinkTypes.add(linkType);
        break;
    }
  }
}
