// nftables as exflow writes it (nft -f): one module owns its quoting. Values are
// addresses and ports re-printed from their parsed form (lang/values.ts); names are
// identifiers nft's scanner accepts unquoted ([A-Za-z_][A-Za-z0-9_]*, a subset of
// its "string" token); free text goes only into comments, as a double-quoted string
// of printable ASCII without the characters nft's quoted-string token stops at or
// that would open a new statement (" ; { } # \ and line breaks) — nft-libs
// scanner.l, `quotedstring` and the 128-byte comment limit (NFTNL_UDATA_COMMENT_MAXLEN).
import { asciiText, fnv1a } from './values';

/** A double-quoted nft comment: at most 120 characters of printable ASCII without " ; { } # \. */
export function nftComment(text: unknown): string {
  return `"${asciiText(text, 400).replace(/["{};#\\]/g, '_').slice(0, 120)}"`;
}

/** A `# ` comment line for the ruleset's head: printable ASCII, never a line break. */
export function nftLineComment(text: unknown): string {
  return `# ${asciiText(text, 2000)}`.trimEnd();
}

/** An nft name (set, chain) from a prefix and a value: [A-Za-z0-9_], with a hash of the value when characters had to go. */
export function nftName(prefix: string, value: string): string {
  const kept = value.replace(/[^A-Za-z0-9]/g, '_');
  const exact = /^[A-Za-z0-9-]+$/.test(value) && !value.includes('_');
  return `${prefix}${kept}${exact ? '' : `_${fnv1a(value).toString(16)}`}`;
}
