import * as fs from 'node:fs';
import type { Document, Node, YAMLMap } from 'yaml';

// The YAML parser is loaded when a rules or inventory file is read, not at start-up:
// commands served from the compiled-rules cache never need it.
let yamlModule: typeof import('yaml') | null = null;
const Y = (): typeof import('yaml') => (yamlModule ??= require('yaml') as typeof import('yaml'));
const isAlias = (n: unknown) => Y().isAlias(n);
const isMap = (n: unknown): n is YAMLMap => Y().isMap(n);
const isScalar = (n: unknown): n is import('yaml').Scalar => Y().isScalar(n);
const isSeq = (n: unknown): n is import('yaml').YAMLSeq => Y().isSeq(n);

/** A rules file that does not validate: names the file, the line and the field. Exit code 2. */
export class RulesError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly problem: string,
  ) {
    super(`${file}:${line}: ${problem}`);
    this.name = 'RulesError';
  }
}

/** One parsed YAML file with the means to say where a node stands in it. */
export class RulesFile {
  private readonly lines = new (Y().LineCounter)();
  readonly root: YAMLMap;
  private readonly doc: Document;

  constructor(readonly path: string, text: string) {
    const doc = Y().parseDocument(text, { lineCounter: this.lines, prettyErrors: false, merge: true });
    this.doc = doc;
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      throw new RulesError(path, this.lines.linePos(e.pos[0]).line, `YAML syntax: ${e.message.split('\n')[0]}`);
    }
    if (!isMap(doc.contents)) throw new RulesError(path, 1, 'expected a mapping at the top (for example "services:")');
    this.root = doc.contents;
  }

  static read(path: string): RulesFile {
    let text: string;
    try {
      text = fs.readFileSync(path, 'utf8');
    } catch (e) {
      throw new RulesError(path, 0, `cannot read: ${(e as Error).message}`);
    }
    return new RulesFile(path, text);
  }

  /** What an alias (*name) stands for; any other node as it is. */
  resolve(node: unknown): Node | undefined {
    if (isAlias(node)) return ((node as import('yaml').Alias).resolve(this.doc) as Node | undefined) ?? undefined;
    return node as Node | undefined;
  }

  line(node: Node | null | undefined): number {
    const at = node?.range?.[0];
    return at === undefined ? 1 : this.lines.linePos(at).line;
  }

  fail(node: Node | null | undefined, problem: string): never {
    throw new RulesError(this.path, this.line(node), problem);
  }

  /** The list under a top-level key, or null when the key is absent. */
  list(key: string, o: { bareIsEmpty?: boolean } = {}): Entry[] | null {
    const node = this.root.get(key, true) as Node | undefined;
    if (node === undefined) return null;
    // "key:" with nothing after it: an empty list where the caller allows it (an inventory whose entries are all commented out).
    if (o.bareIsEmpty && isScalar(node) && node.value === null) return [];
    if (!isSeq(node)) this.fail(node, `"${key}" must be a list`);
    return node.items.map((raw) => {
      const item = this.resolve(raw);
      if (!isMap(item)) this.fail(raw as Node, `each entry of "${key}" must be a mapping`);
      return new Entry(this, item);
    });
  }

  /** Top-level keys that are not in `known`: a misspelt section would otherwise be ignored. */
  checkTopKeys(known: string[]): void {
    for (const pair of this.root.items) {
      const k = isScalar(pair.key) ? String(pair.key.value) : '';
      // "x-…" sections hold YAML anchors for aliases elsewhere (as in Compose files); they are not read.
      if (!known.includes(k) && !k.startsWith('x-')) this.fail(pair.key as Node, `unknown section "${k}" (expected one of: ${known.join(', ')})`);
    }
  }
}

/** One mapping in a rules list, with typed, located field access. */
export class Entry {
  constructor(
    readonly file: RulesFile,
    readonly map: YAMLMap,
  ) {}

  get line(): number {
    return this.file.line(this.map);
  }

  node(key: string): Node | undefined {
    return this.file.resolve(this.map.get(key, true));
  }

  fail(key: string | null, problem: string): never {
    this.file.fail(key ? (this.node(key) ?? this.map) : this.map, problem);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  checkKeys(known: string[]): void {
    for (const pair of this.map.items) {
      const k = isScalar(pair.key) ? String(pair.key.value) : '';
      if (!known.includes(k)) this.file.fail(pair.key as Node, `unknown field "${k}" (expected one of: ${known.join(', ')})`);
    }
  }

  str(key: string): string;
  str(key: string, optional: true): string | undefined;
  str(key: string, optional = false): string | undefined {
    const n = this.node(key);
    if (n === undefined || (isScalar(n) && n.value === null)) {
      if (optional) return undefined;
      this.fail(null, `missing field "${key}"`);
    }
    if (!isScalar(n) || (typeof n.value !== 'string' && typeof n.value !== 'number')) this.fail(key, `"${key}" must be text`);
    return String(n.value);
  }

  bool(key: string, fallback: boolean): boolean {
    const n = this.node(key);
    if (n === undefined) return fallback;
    if (!isScalar(n) || typeof n.value !== 'boolean') this.fail(key, `"${key}" must be true or false`);
    return n.value as boolean;
  }

  /** A scalar or a list of scalars, as strings. */
  strList(key: string, optional = false): string[] {
    const n = this.node(key);
    if (n === undefined) {
      if (optional) return [];
      this.fail(null, `missing field "${key}"`);
    }
    if (isScalar(n)) return n.value === null ? [] : [String(n.value)];
    if (!isSeq(n)) this.fail(key, `"${key}" must be a value or a list`);
    return n.items.map((raw) => {
      const it = this.file.resolve(raw);
      if (!isScalar(it)) this.file.fail(raw as Node, `"${key}" entries must be plain values`);
      return String(it.value);
    });
  }

  /** A mapping of names to a value or a list of values, as strings, in file order. */
  strMap(key: string): [string, string[]][] {
    const n = this.node(key);
    if (n === undefined) this.fail(null, `missing field "${key}"`);
    if (!isMap(n)) this.fail(key, `"${key}" must be a mapping of names to values`);
    return n.items.map((pair) => {
      const k = isScalar(pair.key) ? String(pair.key.value) : '';
      const v = this.file.resolve(pair.value);
      if (isScalar(v)) return [k, v.value === null ? [] : [String(v.value)]];
      if (!isSeq(v)) this.file.fail(pair.key as Node, `"${k}" must be a value or a list`);
      return [k, v.items.map((raw) => {
        const it = this.file.resolve(raw);
        if (!isScalar(it)) this.file.fail(raw as Node, `"${k}" entries must be plain values`);
        return String(it.value);
      })];
    });
  }

  /** The line of the i-th item of a list field (for errors about one item). */
  itemNode(key: string, i: number): Node | undefined {
    const n = this.node(key);
    return isSeq(n) ? (n.items[i] as Node) : n;
  }
}
