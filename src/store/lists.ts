// Lists kept in one column: JSON arrays (hosts' serves/uses/named/evidence, a capture's
// warnings, inventory roles) and comma-separated rule ids (a flow's findings). A database
// is input like a capture: a value that is not the list exflow writes is read as empty,
// never pasted into JSON or split into something else.

/** A stored JSON list of texts; anything else (not JSON, not an array, too large) is no list. */
export function storedList(json: unknown): string[] {
  if (typeof json !== 'string' || json === '' || json.length > MAX_LIST_TEXT) return [];
  try {
    const v = JSON.parse(json) as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** A capture's stored warnings ([{offset, message}]); entries of any other shape are left out. */
export function storedWarnings(json: unknown): { offset: number; message: string }[] {
  if (typeof json !== 'string' || json.length > MAX_LIST_TEXT) return [];
  try {
    const v = JSON.parse(json) as unknown;
    if (!Array.isArray(v)) return [];
    return v.filter((x): x is { offset: number; message: string } => typeof x === 'object' && x !== null && Number.isSafeInteger(x.offset) && typeof x.message === 'string');
  } catch {
    return [];
  }
}

/** Rule ids as exflow writes them: lower-case letters, digits and dashes. */
const RULE_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** Comma-separated rule ids (flows.protection); a part that is not an id is left out. */
export function storedIds(csv: unknown): string[] {
  if (typeof csv !== 'string' || csv.length > MAX_LIST_TEXT) return [];
  return csv.split(',').filter((x) => RULE_ID.test(x));
}

/** Lists exflow writes stay far below this; a larger value is not parsed. */
const MAX_LIST_TEXT = 1 << 20;
