// The synthetic bench workload, parameterised so tests can make small ones:
// many interleaved flows, a third VLAN-tagged, an eighth IPv6, a few known
// service ports; data segments only (every flow is "midstream").
import * as fs from 'node:fs';
import { frame } from './frames';
import { PcapFileWriter } from './writer';

export interface SyntheticOptions {
  packets: number;
  flows: number;
  /** Microseconds between packets (capture time). */
  stepUs?: number;
  /** Flows interleaved at once. */
  active?: number;
}

export function writeSynthetic(file: string, o: SyntheticOptions): void {
  const w = new PcapFileWriter(file + '.tmp');
  const perFlow = Math.max(2, Math.round(o.packets / o.flows));
  const active = o.active ?? 2000;
  const step = o.stepUs ?? 3;
  const servicePorts = [25, 80, 135, 389, 443, 3268, 88, 53, 49152, 50636, 64327];
  let written = 0;
  let next = 0;
  let t = Date.UTC(2026, 0, 1) * 1000;
  const slots: { frames: [Buffer, Buffer]; left: number }[] = [];
  const makeFlow = (n: number) => {
    const v6 = n % 8 === 0;
    const c = v6 ? `2001:db8:1::${(n % 65000).toString(16)}` : `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
    const s = v6 ? `2001:db8:2::${(n % 97).toString(16)}` : `10.200.0.${n % 200}`;
    const sp = servicePorts[n % servicePorts.length];
    const cp = 1024 + (n % 60000);
    const vlan = n % 3 === 0 ? 100 + (n % 50) : undefined;
    const size = 40 + ((n * 131) % 400);
    const udp = sp === 53;
    return {
      frames: [
        frame(udp ? 'udp' : 'tcp', { ip: c, port: cp }, { ip: s, port: sp }, Buffer.alloc(size, 1), { vlan, tcpFlags: 0x18 }),
        frame(udp ? 'udp' : 'tcp', { ip: s, port: sp }, { ip: c, port: cp }, Buffer.alloc(size * 2, 2), { vlan, tcpFlags: 0x18 }),
      ] as [Buffer, Buffer],
      left: perFlow,
    };
  };
  while (written < o.packets) {
    while (slots.length < active && next < o.flows) slots.push(makeFlow(next++));
    if (slots.length === 0) slots.push(makeFlow(next++));
    const i = written % slots.length;
    const f = slots[i];
    w.write(t, f.frames[f.left & 1]);
    t += step;
    written++;
    if (--f.left === 0) slots.splice(i, 1);
  }
  w.close();
  fs.renameSync(file + '.tmp', file);
}
