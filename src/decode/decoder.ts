import { u16be, u16le, u32be } from '../capture/bytes';
import { LinkType } from './linktypes';
import { Decoded, DecodedPacket, Proto } from './packet';

// EtherTypes (IEEE registry).
const enum EtherType {
  Ipv4 = 0x0800,
  Ipv6 = 0x86dd,
  Vlan = 0x8100,
  QinQ = 0x88a8,
  QinQOld = 0x9100,
  Mpls = 0x8847,
  MplsMulticast = 0x8848,
  PppoeSession = 0x8864,
  TransparentBridging = 0x6558, // Ethernet inside GRE
  ErspanII = 0x88be,
  ErspanIII = 0x22eb,
}

const enum IpProto {
  HopByHop = 0,
  IpInIp = 4,
  Tcp = 6,
  Udp = 17,
  Ipv6 = 41,
  Routing = 43,
  Fragment = 44,
  Gre = 47,
  Ah = 51,
  NoNext = 59,
  DestOptions = 60,
}

const enum Layer {
  Ethernet,
  Ipv4,
  Ipv6,
  ByVersionNibble,
  Done,
}

const VXLAN_PORT = 4789;
/** Encapsulations removed before giving up: a span port rarely nests more than two. */
const MAX_TUNNELS = 4;
const MAX_MPLS_LABELS = 16;
const MAX_IPV6_EXTENSIONS = 8;

/**
 * Decodes link, network and transport headers into a reused DecodedPacket, following
 * VLAN/QinQ/MPLS/PPPoE and the encapsulations a span port delivers (GRE, ERSPAN II/III,
 * VXLAN, IP-in-IP, 6in4): the result describes the innermost IP packet.
 * Never allocates; never throws on any input.
 */
function isTunnel(proto: number): boolean {
  return proto === IpProto.IpInIp || proto === IpProto.Ipv6 || proto === IpProto.Gre;
}

export class PacketDecoder {
  readonly p = new DecodedPacket();
  /** Packets inside more than MAX_TUNNELS encapsulations (not followed further). */
  tooDeep = 0;
  /** IPv6 packets with more than MAX_IPV6_EXTENSIONS extension headers (transport not reached). */
  tooManyExtensions = 0;

  decode(linkType: number, b: Buffer, off: number, capLen: number): Decoded {
    const p = this.p;
    p.tunnels = 0;
    p.vlan = -1;
    p.sport = 0;
    p.dport = 0;
    p.tcpFlags = 0;
    p.payloadLen = 0;
    p.payloadWireLen = 0;
    p.firstFragment = false;
    const end = off + capLen;
    let o = off;
    let layer: Layer;
    switch (linkType) {
      case LinkType.Ethernet:
        layer = Layer.Ethernet;
        break;
      case LinkType.RawIp:
      case LinkType.RawOpenBsd:
      case LinkType.RawIpAlt:
        layer = Layer.ByVersionNibble;
        break;
      case LinkType.Ipv4:
        layer = Layer.Ipv4;
        break;
      case LinkType.Ipv6:
        layer = Layer.Ipv6;
        break;
      case LinkType.LinuxSll: {
        if (capLen < 16) return Decoded.Malformed;
        layer = layerForEtherType(u16be(b, o + 14));
        o += 16;
        break;
      }
      case LinkType.LinuxSll2: {
        if (capLen < 20) return Decoded.Malformed;
        layer = layerForEtherType(u16be(b, o));
        o += 20;
        break;
      }
      case LinkType.Null:
      case LinkType.Loop: {
        if (capLen < 4) return Decoded.Malformed;
        // Family is host byte order for DLT_NULL; either order works because the
        // values are small: test the low byte at both ends.
        const fam = linkType === LinkType.Loop ? u32be(b, o) : b[o] !== 0 ? b[o] : b[o + 3];
        o += 4;
        if (fam === 2) layer = Layer.Ipv4;
        else if (fam === 24 || fam === 28 || fam === 30 || fam === 10) layer = Layer.Ipv6;
        else return Decoded.NotIp;
        break;
      }
      case LinkType.Ppp:
      case LinkType.PppHdlc: {
        if (capLen < 2) return Decoded.Malformed;
        if (b[o] === 0xff && b[o + 1] === 0x03) o += 2; // HDLC address + control
        if (end - o < 2) return Decoded.Malformed;
        const pp = u16be(b, o);
        o += 2;
        if (pp === 0x0021) layer = Layer.Ipv4;
        else if (pp === 0x0057) layer = Layer.Ipv6;
        else return Decoded.NotIp;
        break;
      }
      case LinkType.Nflog: {
        const at = nflogPayload(b, o, end);
        if (at < 0) return at === -1 ? Decoded.NotIp : Decoded.Malformed;
        layer = b[o] === 10 ? Layer.Ipv6 : b[o] === 2 ? Layer.Ipv4 : Layer.ByVersionNibble;
        o = at;
        break;
      }
      default:
        return Decoded.UnknownLink;
    }

    for (;;) {
      switch (layer) {
        case Layer.Ethernet: {
          if (end - o < 14) return Decoded.Malformed;
          let type = u16be(b, o + 12);
          o += 14;
          // VLAN tags and MPLS labels stack in any depth a switch produced.
          while (type === EtherType.Vlan || type === EtherType.QinQ || type === EtherType.QinQOld) {
            if (end - o < 4) return Decoded.Malformed;
            if (p.vlan < 0) p.vlan = u16be(b, o) & 0x0fff;
            type = u16be(b, o + 2);
            o += 4;
          }
          if (type === EtherType.Mpls || type === EtherType.MplsMulticast) {
            let n = 0;
            for (;;) {
              if (end - o < 4 || ++n > MAX_MPLS_LABELS) return Decoded.Malformed;
              const bottom = (b[o + 2] & 0x01) !== 0;
              o += 4;
              if (bottom) break;
            }
            layer = Layer.ByVersionNibble;
            continue;
          }
          if (type === EtherType.PppoeSession) {
            if (end - o < 8) return Decoded.Malformed;
            const pp = u16be(b, o + 6);
            o += 8;
            if (pp === 0x0021) layer = Layer.Ipv4;
            else if (pp === 0x0057) layer = Layer.Ipv6;
            else return Decoded.NotIp;
            continue;
          }
          layer = layerForEtherType(type);
          continue;
        }
        case Layer.ByVersionNibble: {
          if (end - o < 1) return Decoded.Malformed;
          const v = b[o] >> 4;
          if (v === 4) layer = Layer.Ipv4;
          else if (v === 6) layer = Layer.Ipv6;
          else return Decoded.NotIp;
          continue;
        }
        case Layer.Ipv4: {
          if (end - o < 20) return Decoded.Malformed;
          const vihl = b[o];
          const ihl = (vihl & 0x0f) * 4;
          if (vihl >> 4 !== 4 || ihl < 20) return Decoded.Malformed;
          let totalLen = u16be(b, o + 2);
          // TSO-offloaded captures write 0; trust the capture then.
          if (totalLen === 0) totalLen = end - o;
          if (totalLen < ihl) return Decoded.Malformed;
          p.family = 4;
          p.src0 = 0; p.src1 = 0; p.src2 = 0;
          p.dst0 = 0; p.dst1 = 0; p.dst2 = 0;
          p.src3 = u32be(b, o + 12);
          p.dst3 = u32be(b, o + 16);
          p.ipId = u16be(b, o + 4);
          const proto = b[o + 9];
          p.proto = proto;
          const frag = u16be(b, o + 6);
          const fragOffset = frag & 0x1fff;
          const moreFragments = (frag & 0x2000) !== 0;
          const ipEnd = o + totalLen; // may lie beyond `end` when the snaplen cut the packet
          const l4 = o + ihl;
          if (fragOffset !== 0) return Decoded.Fragment;
          p.firstFragment = moreFragments;
          const next = this.transport(proto, b, l4, ipEnd < end ? ipEnd : end, ipEnd, moreFragments);
          if (next === Layer.Done) return this.result;
          layer = next;
          o = this.innerOff;
          continue;
        }
        case Layer.Ipv6: {
          if (end - o < 40) return Decoded.Malformed;
          if (b[o] >> 4 !== 6) return Decoded.Malformed;
          p.family = 6;
          p.src0 = u32be(b, o + 8); p.src1 = u32be(b, o + 12); p.src2 = u32be(b, o + 16); p.src3 = u32be(b, o + 20);
          p.dst0 = u32be(b, o + 24); p.dst1 = u32be(b, o + 28); p.dst2 = u32be(b, o + 32); p.dst3 = u32be(b, o + 36);
          const payloadLen = u16be(b, o + 4);
          const ipEnd = payloadLen === 0 ? end : o + 40 + payloadLen; // 0: jumbogram; trust the capture
          let nh = b[o + 6];
          let q = o + 40;
          let moreFragments = false;
          let fragment = false;
          for (let i = 0; i < MAX_IPV6_EXTENSIONS; i++) {
            if (nh === IpProto.HopByHop || nh === IpProto.Routing || nh === IpProto.DestOptions) {
              if (end - q < 8) return this.ipOnly(nh);
              nh = b[q];
              q += (b[q + 1] + 1) * 8;
            } else if (nh === IpProto.Fragment) {
              if (end - q < 8) return this.ipOnly(nh);
              const fo = u16be(b, q + 2);
              p.ipId = u32be(b, q + 4);
              fragment = true;
              moreFragments = (fo & 1) !== 0;
              nh = b[q];
              q += 8;
              if (fo >> 3 !== 0) {
                p.proto = nh;
                return Decoded.Fragment;
              }
            } else if (nh === IpProto.Ah) {
              if (end - q < 8) return this.ipOnly(nh);
              nh = b[q];
              q += (b[q + 1] + 2) * 4;
            } else break;
          }
          if (nh === IpProto.HopByHop || nh === IpProto.Routing || nh === IpProto.DestOptions || nh === IpProto.Fragment || nh === IpProto.Ah) {
            this.tooManyExtensions++; // more extension headers than are followed: counted, not silent
          }
          p.proto = nh;
          if (nh === IpProto.NoNext) return Decoded.OtherIp;
          p.firstFragment = fragment && moreFragments;
          const next = this.transport(nh, b, q, ipEnd < end ? ipEnd : end, ipEnd, moreFragments);
          if (next === Layer.Done) return this.result;
          layer = next;
          o = this.innerOff;
          continue;
        }
        default:
          return Decoded.NotIp; // an EtherType that is not IP (ARP, LLDP, 802.3 length, ...)
      }
    }
  }

  // Outputs of transport(): the decode result, or where an inner packet starts.
  private result: Decoded = Decoded.Transport;
  private innerOff = 0;

  private ipOnly(proto: number): Decoded {
    this.p.proto = proto;
    return Decoded.OtherIp;
  }

  /**
   * Reads the transport header at `o`. `end` is the end of captured bytes of this IP
   * packet, `wireEnd` where the IP header says it ends. Returns Layer.Done with
   * `result` set, or the layer of an encapsulated packet with `innerOff` set.
   */
  private transport(proto: number, b: Buffer, o: number, end: number, wireEnd: number, fragmented: boolean): Layer {
    const p = this.p;
    if (proto === IpProto.Tcp) {
      // The IP header says the segment is too short for a TCP header: broken, not cut.
      if (wireEnd - o < 20 && !fragmented) return this.done(Decoded.Malformed);
      if (end - o < 4) return this.done(Decoded.OtherIp);
      p.sport = u16be(b, o);
      p.dport = u16be(b, o + 2);
      if (end - o < 20) {
        // The snaplen cut the header after the ports: the flow still counts.
        p.payloadOff = end;
        return this.done(Decoded.Transport);
      }
      p.seq = u32be(b, o + 4);
      p.ack = u32be(b, o + 8);
      const doff = (b[o + 12] >> 4) * 4;
      p.tcpFlags = b[o + 13];
      const payloadOff = o + (doff < 20 ? 20 : doff);
      p.payloadOff = payloadOff;
      p.payloadWireLen = wireEnd > payloadOff ? wireEnd - payloadOff : 0;
      p.payloadLen = end > payloadOff ? end - payloadOff : 0;
      return this.done(Decoded.Transport);
    }
    if (proto === IpProto.Udp) {
      if (wireEnd - o < 8 && !fragmented) return this.done(Decoded.Malformed);
      if (end - o < 4) return this.done(Decoded.OtherIp);
      const sport = u16be(b, o);
      const dport = u16be(b, o + 2);
      p.sport = sport;
      p.dport = dport;
      const payloadOff = o + 8;
      p.payloadOff = payloadOff;
      p.payloadWireLen = wireEnd > payloadOff ? wireEnd - payloadOff : 0;
      p.payloadLen = end > payloadOff ? end - payloadOff : 0;
      if (dport === VXLAN_PORT && !fragmented && p.payloadLen >= 8 + 14 && (b[payloadOff] & 0x08) !== 0 && p.tunnels < MAX_TUNNELS) {
        p.tunnels++;
        this.innerOff = payloadOff + 8;
        return Layer.Ethernet;
      }
      return this.done(Decoded.Transport);
    }
    if (p.tunnels >= MAX_TUNNELS && !fragmented && isTunnel(proto)) {
      // Counted, not silent: an inner packet this deep is not followed.
      this.tooDeep++;
      return this.done(Decoded.OtherIp);
    }
    if (fragmented || p.tunnels >= MAX_TUNNELS) return this.done(Decoded.OtherIp);
    if (proto === IpProto.IpInIp || proto === IpProto.Ipv6) {
      p.tunnels++;
      this.innerOff = o;
      return proto === IpProto.IpInIp ? Layer.Ipv4 : Layer.Ipv6;
    }
    if (proto === IpProto.Gre) return this.gre(b, o, end);
    return this.done(Decoded.OtherIp);
  }

  private gre(b: Buffer, o: number, end: number): Layer {
    const p = this.p;
    if (end - o < 4) return this.done(Decoded.OtherIp);
    const flags = u16be(b, o);
    const type = u16be(b, o + 2);
    if ((flags & 0x7) === 1) return this.pptpGre(b, o, end, flags, type);
    if ((flags & 0x7) !== 0) return this.done(Decoded.OtherIp);
    let q = o + 4;
    if (flags & 0xc000) q += 4; // checksum (and offset) present
    if (flags & 0x2000) q += 4; // key
    const seqPresent = (flags & 0x1000) !== 0;
    if (seqPresent) q += 4;
    let layer: Layer;
    switch (type) {
      case EtherType.Ipv4:
        layer = Layer.Ipv4;
        break;
      case EtherType.Ipv6:
        layer = Layer.Ipv6;
        break;
      case EtherType.TransparentBridging:
        layer = Layer.Ethernet;
        break;
      case EtherType.ErspanII:
        // Type I has no sequence number and no ERSPAN header; type II has an 8-byte one.
        if (seqPresent) q += 8;
        layer = Layer.Ethernet;
        break;
      case EtherType.ErspanIII: {
        if (end - q < 12) return this.done(Decoded.OtherIp);
        const optional = (b[q + 11] & 0x01) !== 0; // O bit: an 8-byte platform subheader follows
        q += optional ? 20 : 12;
        layer = Layer.Ethernet;
        break;
      }
      default:
        return this.done(Decoded.OtherIp);
    }
    if (q >= end) return this.done(Decoded.OtherIp);
    p.tunnels++;
    this.innerOff = q;
    return layer;
  }

  /** Enhanced GRE (RFC 2637, PPTP): key field always present, optional ack; carries PPP. */
  private pptpGre(b: Buffer, o: number, end: number, flags: number, type: number): Layer {
    if (type !== 0x880b) return this.done(Decoded.OtherIp);
    let q = o + 8;
    if (flags & 0x1000) q += 4; // sequence number
    if (flags & 0x0080) q += 4; // acknowledgment number
    if (end - q < 2) return this.done(Decoded.OtherIp);
    if (b[q] === 0xff && b[q + 1] === 0x03) q += 2; // HDLC address and control
    if (end - q < 1) return this.done(Decoded.OtherIp);
    // Protocol-field compression: a one-byte protocol is odd (RFC 1661 section 6.5).
    let pp: number;
    if ((b[q] & 1) === 1) {
      pp = b[q];
      q += 1;
    } else {
      if (end - q < 2) return this.done(Decoded.OtherIp);
      pp = u16be(b, q);
      q += 2;
    }
    if (pp !== 0x21 && pp !== 0x57) return this.done(Decoded.OtherIp);
    this.p.tunnels++;
    this.innerOff = q;
    return pp === 0x21 ? Layer.Ipv4 : Layer.Ipv6;
  }

  private done(r: Decoded): Layer {
    this.result = r;
    return Layer.Done;
  }
}

function layerForEtherType(t: number): Layer {
  if (t === EtherType.Ipv4) return Layer.Ipv4;
  if (t === EtherType.Ipv6) return Layer.Ipv6;
  return Layer.Done;
}

/**
 * NFLOG (linktype 239): a 4-byte header, then TLVs (length and type in host byte
 * order, little-endian in practice) padded to 4; type 9 holds the packet.
 * Returns the payload offset, -1 when there is none, -2 when the TLVs are broken.
 */
function nflogPayload(b: Buffer, o: number, end: number): number {
  let q = o + 4;
  while (end - q >= 4) {
    const len = u16le(b, q);
    const type = u16le(b, q + 2) & 0x7fff;
    if (len < 4) return -2;
    if (type === 9) return q + 4;
    q += (len + 3) & ~3;
  }
  return -1;
}

// Proto is re-exported for callers that compare p.proto.
export { Proto };
