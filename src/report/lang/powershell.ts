// PowerShell as exflow writes it: one module owns its quoting. Strings are
// single-quoted, the one PowerShell form that expands nothing ($, backtick and
// sub-expressions stay literal). PowerShell ends a single-quoted string at any of
// four characters — ' U+2018 U+2019 U+201A U+201B — and a line at CR or LF
// (about_Quoting_Rules, the language specification's lexical grammar §2.3.5.2
// "single-quote-character"); free text is printable ASCII first (lang/values.ts), so
// only the ASCII apostrophe is left, and it is doubled as the rules require. The
// backtick is dropped too: it is literal here, but harmless nowhere else.
import { asciiText, isScriptIdentifier } from './values';

/** A single-quoted PowerShell string holding free text (at most `max` characters before quoting). */
export function psString(text: unknown, max = 1000): string {
  return `'${asciiText(text, max).replace(/`/g, '').replace(/'/g, "''")}'`;
}

/** A comment line: `# ` and printable ASCII, never a line break. */
export function psComment(text: unknown): string {
  return `# ${asciiText(text, 2000)}`.trimEnd();
}

/** A bare word (a parameter value such as TCP, Inbound, 443): only identifiers pass; anything else is quoted. */
export function psWord(v: unknown): string {
  return isScriptIdentifier(v) && /^[A-Za-z0-9]+$/.test(v) ? v : psString(v);
}
