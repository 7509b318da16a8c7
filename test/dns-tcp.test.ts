// DNS over TCP reads each direction in order (src/inspect/dcerpc/stream.ts): an answer
// split over segments that arrive out of order, with a retransmission, gives the
// records the in-order answer gives; a hole that never fills ends the reading, and the
// bytes held for it go back to the run's budget.
import { describe, expect, it } from 'vitest';
import { DnsAnswers } from '../src/inspect/dns';
import { ByteBudget } from '../src/inspect/dcerpc/budget';

// An answer for dc1.lab → 10.10.0.10 (RFC 1035 4.1: header, question, one A record pointing back at the question's name).
const ANSWER = Buffer.from('123481800001000100000000' + '03646331036c616200' + '00010001' + 'c00c000100010000012c00040a0a000a', 'hex');
const QUERY = Buffer.from('123401000001000000000000' + '03646331036c616200' + '00010001', 'hex');
const framed = (m: Buffer) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);

const SYN = 0x02;
const ACK = 0x10;

/** Feeds a conversation: the client's SYN (seq 1000) and query, the server's SYN-ACK (seq 5000) and `answer` segments [offset into the framed answer, length]. */
function read(segments: [number, number][], budget = new ByteBudget(1 << 20)): { dns: DnsAnswers; budget: ByteBudget } {
  const dns = new DnsAnswers(true, budget);
  const q = framed(QUERY);
  const a = framed(ANSWER);
  dns.segment(0, 1000, SYN, Buffer.alloc(0), 0, 0, 0);
  dns.segment(1, 5000, SYN | ACK, Buffer.alloc(0), 0, 0, 0);
  dns.segment(0, 1001, ACK, q, 0, q.length, q.length);
  for (const [at, len] of segments) dns.segment(1, 5001 + at, ACK, a, at, len, len);
  return { dns, budget };
}

const names = (d: DnsAnswers) => d.records.map((r) => JSON.stringify(r));

describe('DNS over TCP, in order', () => {
  const whole = framed(ANSWER).length;
  const inOrder = read([[0, 20], [20, whole - 20]]).dns;

  it('an answer in two segments gives its A record', () => {
    expect(inOrder.records.length).toBe(1);
    expect(JSON.stringify(inOrder.records[0])).toContain('10.10.0.10');
  });

  it('out of order, with a retransmission and an overlap: the same records', () => {
    const { dns, budget } = read([[20, whole - 20], [0, 10], [0, 10], [5, 15]]);
    expect(names(dns)).toEqual(names(inOrder));
    // The segments held out of order went back; the kept record is charged until the flow is written.
    expect(budget.used).toBeGreaterThan(0);
    dns.forget();
    expect(budget.used).toBe(0);
  });

  it('a hole that never fills: no record, and nothing of the budget kept', () => {
    const { dns, budget } = read([[20, whole - 20]]);
    expect(dns.records).toEqual([]);
    dns.finish();
    expect(budget.used).toBe(0);
  });
});
