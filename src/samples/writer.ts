import * as fs from 'node:fs';
import type { TimedFrame } from './frames';

/** A little-endian pcapng section header block (version 1.0, section length unknown). */
export function pcapngSectionHeader(): Buffer {
  const shb = Buffer.alloc(28);
  shb.writeUInt32LE(0x0a0d0d0a, 0);
  shb.writeUInt32LE(28, 4);
  shb.writeUInt32LE(0x1a2b3c4d, 8);
  shb.writeUInt16LE(1, 12);
  shb.writeUInt16LE(0, 14);
  shb.writeInt32LE(-1, 16);
  shb.writeInt32LE(-1, 20);
  shb.writeUInt32LE(28, 24);
  return shb;
}

/** An interface description block; `options` are the encoded options without opt_endofopt. */
export function pcapngInterface(linkType: number, options: Buffer = Buffer.alloc(0), snaplen = 262144): Buffer {
  const len = 20 + options.length + (options.length ? 4 : 0);
  const idb = Buffer.alloc(len);
  idb.writeUInt32LE(1, 0);
  idb.writeUInt32LE(len, 4);
  idb.writeUInt16LE(linkType, 8);
  idb.writeUInt32LE(snaplen, 12);
  options.copy(idb, 16);
  idb.writeUInt32LE(len, len - 4);
  return idb;
}

/** One pcapng option (code, value padded to 4). */
export function pcapngOption(code: number, value: Buffer): Buffer {
  const b = Buffer.alloc(4 + ((value.length + 3) & ~3));
  b.writeUInt16LE(code, 0);
  b.writeUInt16LE(value.length, 2);
  value.copy(b, 4);
  return b;
}

/** Writes frames as a little-endian pcapng: one section, one Ethernet interface, µs timestamps. */
export function pcapngBytes(frames: TimedFrame[]): Buffer {
  const parts: Buffer[] = [pcapngSectionHeader(), pcapngInterface(1)];
  for (const f of frames) {
    const padded = (f.data.length + 3) & ~3;
    const len = 32 + padded;
    const epb = Buffer.alloc(len);
    epb.writeUInt32LE(6, 0);
    epb.writeUInt32LE(len, 4);
    epb.writeUInt32LE(0, 8);
    epb.writeUInt32LE(Math.floor(f.tsUs / 4294967296), 12);
    epb.writeUInt32LE(f.tsUs % 4294967296, 16);
    epb.writeUInt32LE(f.data.length, 20);
    epb.writeUInt32LE(f.data.length, 24);
    f.data.copy(epb, 28);
    epb.writeUInt32LE(len, len - 4);
    parts.push(epb);
  }
  return Buffer.concat(parts);
}

/** A classic pcap file header: little-endian, µs timestamps, version 2.4, Ethernet. */
export function pcapHeader(snaplen = 262144, linkType = 1): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(snaplen, 16);
  h.writeUInt32LE(linkType, 20);
  return h;
}

/** Streams frames into a classic little-endian µs pcap file (for captures too large to build in memory). */
export class PcapFileWriter {
  private readonly fd: number;
  private buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  private used = 0;

  constructor(path: string, snaplen?: number) {
    this.fd = fs.openSync(path, 'w');
    fs.writeSync(this.fd, pcapHeader(snaplen));
  }

  write(tsUs: number, data: Buffer, len = data.length): void {
    if (this.used + 16 + len > this.buf.length) this.drain();
    const b = this.buf;
    const sec = Math.floor(tsUs / 1e6);
    b.writeUInt32LE(sec, this.used);
    b.writeUInt32LE(tsUs - sec * 1e6, this.used + 4);
    b.writeUInt32LE(len, this.used + 8);
    b.writeUInt32LE(len, this.used + 12);
    data.copy(b, this.used + 16, 0, len);
    this.used += 16 + len;
  }

  private drain(): void {
    fs.writeSync(this.fd, this.buf, 0, this.used);
    this.used = 0;
  }

  close(): void {
    this.drain();
    fs.closeSync(this.fd);
  }
}
