import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseInferenceRule, type InferenceRule } from './inference';
import { parseHttpApp, type HttpApp } from './http-apps';
import { parseVersion, type ExchangeVersion } from './versions';
import { parseProtectionFinding, type ProtectionFinding } from './protection';
import { parseMatrixRule, type MatrixRule } from './matrix';
import { parseRole, type Role } from './roles';
import { parseRpcInterfaces, type RpcInterface } from './rpc-interfaces';
import { PortIndex, parseService, type Service } from './services';
import { RulesError, RulesFile, type Entry } from './source';

/** Every section a rules file may hold, and who reads it. */
export const SECTIONS = ['services', 'rpc_interfaces', 'roles', 'matrix', 'inference', 'http_apps', 'versions', 'protection'] as const;
export type Section = (typeof SECTIONS)[number];

/** Entries of one section across all loaded files, later folders replacing earlier ids. */
export type SectionEntries = Map<string, Entry>;

export interface RuleSet {
  dirs: string[];
  files: string[];
  services: Service[];
  serviceById: Map<string, Service>;
  ports: PortIndex;
  /** RPC interfaces by lower-case UUID. */
  rpcInterfaces: Map<string, RpcInterface>;
  roles: Map<string, Role>;
  matrix: MatrixRule[];
  inference: InferenceRule[];
  httpApps: HttpApp[];
  versions: ExchangeVersion[];
  /** The protection audit's findings (rules/protection.yaml), in file order. */
  protection: ProtectionFinding[];
  /** Raw entries of the other sections, for the stages that own them. */
  raw: Record<Section, SectionEntries>;
}

/** The rules folder shipped with exflow (next to dist/ and src/). */
export function shippedRulesDir(): string {
  return path.resolve(__dirname, '..', '..', 'rules');
}

function yamlFilesIn(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    throw new RulesError(dir, 0, `cannot read the rules folder: ${(e as Error).message}`);
  }
  return names.filter((n) => /\.ya?ml$/i.test(n)).sort().map((n) => path.join(dir, n));
}

/** The compiled form of a rule set, as cached: plain data, rebuilt into maps on load. */
interface CompiledRules {
  key: string;
  dirs: string[];
  files: string[];
  services: Service[];
  rpcInterfaces: RpcInterface[];
  roles: Role[];
  matrix: MatrixRule[];
  inference: InferenceRule[];
  httpApps: HttpApp[];
  versions: ExchangeVersion[];
  protection: ProtectionFinding[];
}

function cacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'exflow');
}

/** Names in the order of their UTF-16 code units: the same on every machine, whatever its locale (and without ICU's collator, ~9 ms of every start). */
const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The files a rule set is made of, in load order (shipped first, later folders replacing by name). */
function ruleFiles(dirs: string[]): string[] {
  const byName = new Map<string, string>();
  for (const d of dirs) for (const f of yamlFilesIn(d)) byName.set(path.basename(f), f);
  const files = [...byName.values()];
  const order = new Map(dirs.map((d, i) => [path.resolve(d), i]));
  files.sort((a, b) => (order.get(path.resolve(path.dirname(a))) ?? 0) - (order.get(path.resolve(path.dirname(b))) ?? 0) || byCodeUnits(a, b));
  return files;
}

function compiledRules(rules: RuleSet, key: string): CompiledRules {
  return {
    key,
    dirs: rules.dirs,
    files: rules.files,
    services: rules.services,
    rpcInterfaces: [...rules.rpcInterfaces.values()],
    roles: [...rules.roles.values()],
    matrix: rules.matrix,
    inference: rules.inference,
    httpApps: rules.httpApps,
    versions: rules.versions,
    protection: rules.protection,
  };
}

/** A rule set as plain data (for another thread: exactly the rules this one loaded). */
export type PlainRules = CompiledRules;

export function plainRules(rules: RuleSet): PlainRules {
  return compiledRules(rules, '');
}

/** The rule set plainRules() gave (the raw sections are not carried: the packet stages do not read them). */
export function rulesFromPlain(c: PlainRules): RuleSet {
  return fromCompiled(c);
}

function fromCompiled(c: CompiledRules): RuleSet {
  const serviceById = new Map(c.services.map((s) => [s.id, s]));
  const raw = Object.fromEntries(SECTIONS.map((s) => [s, new Map<string, Entry>()])) as Record<Section, SectionEntries>;
  return {
    dirs: c.dirs,
    files: c.files,
    services: c.services,
    serviceById,
    ports: new PortIndex(c.services),
    rpcInterfaces: new Map(c.rpcInterfaces.map((r) => [r.uuid, r])),
    roles: new Map(c.roles.map((r) => [r.id, r])),
    matrix: c.matrix,
    inference: c.inference,
    httpApps: c.httpApps,
    versions: c.versions,
    protection: c.protection,
    raw,
  };
}

/** The roles by id; an alias may name one role only and no role's own id. */
function parseRoles(entries: Entry[]): Map<string, Role> {
  const parsed = entries.map((e) => ({ e, role: parseRole(e) }));
  const roles = new Map(parsed.map((p) => [p.role.id, p.role]));
  const aliasOf = new Map<string, string>();
  for (const { e, role } of parsed) {
    for (const a of role.aliases) {
      const other = roles.has(a) ? a : aliasOf.get(a);
      if (other !== undefined) e.fail('aliases', `alias "${a}" already names the role "${other}"`);
      aliasOf.set(a, role.id);
    }
  }
  return roles;
}

/**
 * The rules, validated once and cached by the SHA-256 of exflow's version and every
 * rules file's path and bytes: a command that only needs them starts in
 * milliseconds instead of parsing YAML. Any change to a file is a new key, so a
 * cached set is never stale; a cache that cannot be read or written is ignored.
 * `exflow rules check` always validates the files themselves (loadRules).
 */
export function loadRulesCached(extraDirs: string[] = [], version = '', base = shippedRulesDir()): RuleSet {
  const dirs = [base, ...extraDirs];
  const files = ruleFiles(dirs);
  const h = crypto.createHash('sha256').update(`exflow ${version} rules v4\0`);
  for (const f of files) {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(f);
    } catch {
      return loadRules(extraDirs, base); // let the full load say what is wrong
    }
    h.update(path.resolve(f)).update('\0').update(bytes).update('\0');
  }
  const key = h.digest('hex');
  const file = path.join(cacheDir(), `rules-${key.slice(0, 32)}.json`);
  try {
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as CompiledRules;
    if (c.key === key) return fromCompiled(c);
  } catch {
    /* not cached yet, or unreadable: compile below */
  }
  const rules = loadRules(extraDirs, base);
  const compiled = compiledRules(rules, key);
  try {
    fs.mkdirSync(cacheDir(), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(compiled));
    fs.renameSync(tmp, file); // atomic: a reader sees the whole file or none
  } catch {
    /* a read-only home: no cache, still correct */
  }
  return rules;
}

/**
 * Loads the shipped rules and then each extra folder in order. A file in an extra
 * folder with the same name as a shipped one replaces it; otherwise entries are merged
 * by id, later folders winning. Throws RulesError (file:line: problem).
 */
export function loadRules(extraDirs: string[] = [], base = shippedRulesDir()): RuleSet {
  const dirs = [base, ...extraDirs];
  const files = ruleFiles(dirs);
  const raw = Object.fromEntries(SECTIONS.map((s) => [s, new Map<string, Entry>()])) as Record<Section, SectionEntries>;
  for (const f of files) {
    const rf = RulesFile.read(f);
    rf.checkTopKeys([...SECTIONS]);
    for (const section of SECTIONS) {
      const entries = rf.list(section);
      if (!entries) continue;
      const seenHere = new Set<string>();
      for (const e of entries) {
        const id = entryId(section, e);
        if (seenHere.has(id)) e.fail(null, `duplicate ${section} entry "${id}" in this file`);
        seenHere.add(id);
        raw[section].set(id, e);
      }
    }
  }
  const services = [...raw.services.values()].map(parseService);
  if (services.length === 0) throw new RulesError(base, 0, 'no services defined');
  const serviceById = new Map(services.map((s) => [s.id, s]));
  const rpcInterfaces = parseRpcInterfaces(raw.rpc_interfaces.values(), serviceById);
  const roles = parseRoles([...raw.roles.values()]);
  const matrix = [...raw.matrix.values()].map((e) => parseMatrixRule(e, roles, serviceById));
  const inference = [...raw.inference.values()].map((e) => parseInferenceRule(e, roles, serviceById));
  const httpApps = [...raw.http_apps.values()].map(parseHttpApp);
  const versions = [...raw.versions.values()].map(parseVersion);
  const protection = [...raw.protection.values()].map((e) => {
    const f = parseProtectionFinding(e);
    for (const k of ['when', 'unless'] as const) {
      for (const id of f[k].service ?? []) if (!serviceById.has(id)) e.fail(k, `unknown service "${id}" in ${k}`);
    }
    return f;
  });
  return {
    dirs,
    files,
    services,
    serviceById,
    ports: new PortIndex(services),
    rpcInterfaces,
    roles,
    matrix,
    inference,
    httpApps,
    versions,
    protection,
    raw,
  };
}

/** The key an entry is merged by. */
function entryId(section: Section, e: Entry): string {
  return section === 'rpc_interfaces' ? e.str('uuid').toLowerCase() : e.str('id');
}
