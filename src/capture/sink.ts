/**
 * What a capture reader hands out, one call per packet record.
 *
 * The bytes are a view into the reader's chunk buffer: valid only during the
 * call. Nothing is allocated per packet; timestamps come as whole seconds and
 * nanoseconds apart because nanosecond epoch times do not fit a double.
 */
export interface PacketSink {
  packet(linkType: number, sec: number, nsec: number, buf: Buffer, off: number, capLen: number, origLen: number): void;
}

/** A warning about a capture file, with the byte offset where it applies (or -1). */
export interface CaptureWarning {
  offset: number;
  message: string;
}

export const enum CaptureFormat {
  PcapMicro = 'pcap',
  PcapNano = 'pcap-ns',
  PcapNg = 'pcapng',
}
