// --redact-accounts: an account name is stored as a keyed hash, so that the same
// account is recognisable across the flows of a run (and across runs and sensors
// that share EXFLOW_REDACT_KEY) while the database names nobody. Without a shared
// key each run draws its own, kept nowhere.
import * as crypto from 'node:crypto';

/** What is stored for an account: "acct:" and 16 hex digits of HMAC-SHA256 over the name as read (case folded). */
export function accountRedactor(key: string | undefined): (account: string) => string {
  const k = key && key.length > 0 ? Buffer.from(key, 'utf8') : crypto.randomBytes(32);
  return (account) => `acct:${crypto.createHmac('sha256', k).update(account.toLowerCase(), 'utf8').digest('hex').slice(0, 16)}`;
}
