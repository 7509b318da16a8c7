// Checks of option values, shared by every command: a bad value is a usage error
// (exit 64) naming the option and what it takes.
import { parseNet } from '../classify/ip';
import { parseTime } from '../report/filter';
import { parseBaseline, type Baseline } from '../report/new';
import { Exit, UserError } from './errors';

/** Commander's collector for a repeatable option. */
export function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

export function positiveInt(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) <= 0 || !Number.isSafeInteger(Number(v))) {
      throw new UserError(`exflow: ${name} takes a whole number from 1 to ${Number.MAX_SAFE_INTEGER}, not "${v}"`, Exit.Usage);
    }
    return Number(v);
  };
}

export function nonNegativeInt(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new UserError(`exflow: ${name} takes a whole number of seconds, not "${v}"`, Exit.Usage);
    return Number(v);
  };
}

/** An --host/--client/--server value, checked: an address or a CIDR block, else a usage error. */
export function addressOption(name: string, v: string | undefined): string | undefined {
  if (v !== undefined && !parseNet(v)) throw new UserError(`exflow: ${name} takes an IPv4/IPv6 address or a CIDR block (10.0.0.0/8), not "${v}"`, Exit.Usage);
  return v;
}

/** A --since/--until value as seconds since 1970, checked. */
export function timeOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = parseTime(v);
  if (t === null) throw new UserError(`exflow: ${name} takes an ISO 8601 time (2026-01-15T09:00:00Z) or seconds since 1970, not "${v}"`, Exit.Usage);
  return t;
}

/** A --baseline value (report new, report html), checked. */
export function baselineOption(v: string): Baseline {
  const b = parseBaseline(v);
  if (!b) throw new UserError(`exflow: --baseline takes a capture id or path, run:N, or a time range FROM..TO, not "${v}"`, Exit.Usage);
  return b;
}
