// Link-layer header types (tcpdump.org/linktypes.html) that the decoder understands.
export const enum LinkType {
  Null = 0, // BSD loopback, family in host byte order
  Ethernet = 1,
  Ppp = 9,
  RawOpenBsd = 12,
  RawIpAlt = 14,
  PppHdlc = 50,
  RawIp = 101,
  Loop = 108, // OpenBSD loopback, family in network byte order
  LinuxSll = 113,
  Ipv4 = 228,
  Ipv6 = 229,
  Nflog = 239,
  LinuxSll2 = 276,
}

export const LINK_TYPE_NAMES: Record<number, string> = {
  0: 'null',
  1: 'ethernet',
  9: 'ppp',
  12: 'raw',
  14: 'raw',
  50: 'ppp-hdlc',
  101: 'raw',
  108: 'loop',
  113: 'linux-sll',
  228: 'ipv4',
  229: 'ipv6',
  239: 'nflog',
  276: 'linux-sll2',
};

export function linkTypeName(t: number): string {
  return LINK_TYPE_NAMES[t] ?? `linktype-${t}`;
}
