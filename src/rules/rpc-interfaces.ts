import type { Service } from './services';
import type { Entry } from './source';

/** One DCE/RPC interface from rules/rpc-interfaces.yaml. */
export interface RpcInterface {
  uuid: string;
  version: string;
  /** Short name for reports and flows.rpc_interface. */
  name: string;
  title: string;
  /** The exflow service a flow carrying this interface gets. */
  service: string;
  description: string;
  evidence: string[];
  cite: string[];
  /** How the server's port for this interface is made static (a registry value), where documented. */
  pin: string | null;
  pin_cite: string[];
  /** Calls that travel without RPC authentication by design (they set up the protection), and where that is said. */
  setup_calls: number[];
  setup_cite: string[];
  source: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const VERSION = /^\d+\.\d+$/;
const NAME = /^[a-z0-9][a-z0-9.-]*$/;

export function parseRpcInterface(e: Entry, services: Map<string, Service>): RpcInterface {
  e.checkKeys(['uuid', 'version', 'name', 'title', 'service', 'description', 'evidence', 'cite', 'pin', 'pin_cite', 'setup_calls', 'setup_cite']);
  const uuid = e.str('uuid').toLowerCase();
  if (!UUID.test(uuid)) e.fail('uuid', `"${uuid}" is not a UUID (8-4-4-4-12 hex digits)`);
  const version = e.str('version');
  if (!VERSION.test(version)) e.fail('version', `version "${version}" must be major.minor`);
  const name = e.str('name');
  if (!NAME.test(name)) e.fail('name', `name "${name}" must be lower case letters, digits, dots and dashes`);
  const service = e.str('service');
  if (!services.has(service)) e.fail('service', `unknown service "${service}" (not in any services file)`);
  const evidence = e.strList('evidence');
  if (evidence.length === 0) e.fail('evidence', 'say where the UUID was verified');
  const cite = e.strList('cite');
  if (cite.length === 0) e.fail('cite', 'cite the seed and section for the service');
  const pin = e.str('pin', true) ?? null;
  const pinCite = e.strList('pin_cite', true);
  if (pin !== null && pinCite.length === 0) e.fail('pin_cite', 'say where the static-port setting is documented');
  const setupCalls = opnums(e);
  const setupCite = e.strList('setup_cite', true);
  if (setupCalls.length > 0 && setupCite.length === 0) e.fail('setup_cite', 'say where the calls are said to travel without RPC authentication');
  return {
    uuid,
    version,
    name,
    title: e.str('title'),
    service,
    description: e.str('description', true) ?? '',
    evidence,
    cite,
    pin,
    pin_cite: pinCite,
    setup_calls: setupCalls,
    setup_cite: setupCite,
    source: `${e.file.path}:${e.line}`,
  };
}

/** setup_calls: a list of opnums (whole numbers 0-65535), or none. */
function opnums(e: Entry): number[] {
  return e.strList('setup_calls', true).map((x) => {
    if (!/^\d{1,5}$/.test(x) || Number(x) > 65535) e.fail('setup_calls', `setup_calls is a list of opnums (whole numbers 0-65535), not "${x}"`);
    return Number(x);
  });
}

/** Parses every entry; two interfaces may not share a short name. */
export function parseRpcInterfaces(entries: Iterable<Entry>, services: Map<string, Service>): Map<string, RpcInterface> {
  const byUuid = new Map<string, RpcInterface>();
  const byName = new Map<string, RpcInterface>();
  for (const e of entries) {
    const i = parseRpcInterface(e, services);
    const other = byName.get(i.name);
    if (other) e.fail('name', `name "${i.name}" is already used by ${other.uuid} (${other.source})`);
    byName.set(i.name, i);
    byUuid.set(i.uuid, i);
  }
  return byUuid;
}
