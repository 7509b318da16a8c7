#!/usr/bin/env node
// The floor under exflow analyze, for npm run bench: read a capture, walk its records and
// decode every packet (link layer, IP, transport) — no flow table, no inspectors, no SQLite.
// Run by the bench as a child process (pinned to one core with taskset for the one-core
// figures); prints {"packets", "seconds", "cpu"} as JSON.
import { readCapture } from '../capture/reader';
import { runChild } from './child';
import { PacketDecoder } from '../decode/decoder';

async function main(file: string): Promise<void> {
  const decoder = new PacketDecoder();
  let packets = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await readCapture(file, {
    packet(linkType, _sec, _nsec, buf, off, capLen) {
      decoder.decode(linkType, buf, off, capLen);
      packets++;
    },
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ packets, seconds, cpu: (cpu.user + cpu.system) / 1e6 }));
}

runChild('floor', main);
