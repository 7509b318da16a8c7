/** Outcome of decoding one packet. */
export const enum Decoded {
  /** Transport header found: ports are valid. */
  Transport = 0,
  /** A later IP fragment: addresses, protocol and IP ID are valid, no ports. */
  Fragment = 1,
  /** IP with a protocol other than TCP/UDP (ICMP, ESP, ...), or a transport header cut off by the snaplen. */
  OtherIp = 2,
  /** Not IP (ARP, LLDP, STP, ...). */
  NotIp = 3,
  /** Headers broken or cut before the IP addresses. */
  Malformed = 4,
  /** A link type the decoder does not know. */
  UnknownLink = 5,
}

export const enum Proto {
  Icmp = 1,
  Tcp = 6,
  Udp = 17,
}

export const enum TcpFlag {
  Fin = 0x01,
  Syn = 0x02,
  Rst = 0x04,
  Psh = 0x08,
  Ack = 0x10,
}

/**
 * The decoder's output, one instance reused for every packet. Addresses are four
 * 32-bit words; IPv4 uses word 3 only (words 0-2 zero) with `family` 4.
 */
export class DecodedPacket {
  family = 0;
  proto = 0;
  src0 = 0; src1 = 0; src2 = 0; src3 = 0;
  dst0 = 0; dst1 = 0; dst2 = 0; dst3 = 0;
  sport = 0;
  dport = 0;
  tcpFlags = 0;
  seq = 0;
  ack = 0;
  /** Offset of the transport payload in the packet buffer. */
  payloadOff = 0;
  /** Payload bytes present in the capture (may be fewer than on the wire). */
  payloadLen = 0;
  /** Payload bytes the packet carried on the wire (from the IP/TCP headers). */
  payloadWireLen = 0;
  /** IP identification (IPv4 16-bit, IPv6 fragment header 32-bit). */
  ipId = 0;
  /** First fragment of a fragmented datagram (offset 0, more fragments). */
  firstFragment = false;
  /** Encapsulation layers removed (VLAN tags not counted). */
  tunnels = 0;
  /** Outermost VLAN id, or -1. */
  vlan = -1;
}
