// DCOM's OXID resolver (IObjectExporter on 135, [MS-DCOM] 3.1.2.5.1): the answers
// to ResolveOxid (opnum 0) and ResolveOxid2 (opnum 4) carry the object exporter's
// string bindings ([MS-DCOM] 2.2.19: DUALSTRINGARRAY of STRINGBINDING = tower id +
// "host[port]"), i.e. the dynamic port a client connects to next for IRemUnknown2
// and the object's own interfaces (WMI's IWbemServices, …). They go into the same
// endpoint registry as the mapper's answers, with source "dcom".
import { Malformed, uuidAt } from './wire';

export const OXID_RESOLVER_UUID = '99fcfec4-5260-101b-bbcb-00aa0021347a';
/** The interface every object exporter serves on its port ([MS-DCOM] 3.1.1.5.6). */
export const IREMUNKNOWN2_UUID = '00000143-0000-0000-c000-000000000046';
export const IREMUNKNOWN_UUID = '00000131-0000-0000-c000-000000000046';
/**
 * DCOM's reference machinery: bound on an object exporter's connection before the
 * object's own interfaces, which follow by alter_context on the same connection
 * ([MS-DCOM] 3.2.4.1.1, 3.2.4.2: a client calls IRemUnknown2 and the object over one
 * association). A connection that has bound only these is not decided yet.
 */
export const REBINDING_UUIDS: ReadonlySet<string> = new Set([IREMUNKNOWN2_UUID, IREMUNKNOWN_UUID]);
export const enum OxidOp {
  ResolveOxid = 0,
  ResolveOxid2 = 4,
}
/**
 * Activation: ISystemActivator / IRemoteSCMActivator RemoteGetClassObject (opnum 3) and
 * RemoteCreateInstance (opnum 4) — both carry activation properties in and the server's
 * string bindings out ([MS-DCOM] 3.1.2.5.2.3.3, 3.1.2.5.2.3.4) — and IActivation
 * RemoteActivation (opnum 0).
 */
export const SYSTEM_ACTIVATOR_UUID = '000001a0-0000-0000-c000-000000000046';
export const REMOTE_ACTIVATION_UUID = '4d9f4ab8-7d1c-11cf-861e-0020af6e7c57';
export const enum ActivationOp {
  RemoteActivation = 0,
  RemoteGetClassObject = 3,
  RemoteCreateInstance = 4,
}

/** An ISystemActivator call that activates (its answer names where the object lives). */
export function systemActivation(opnum: number): boolean {
  return opnum === ActivationOp.RemoteCreateInstance || opnum === ActivationOp.RemoteGetClassObject;
}
/** [MS-DCOM] 2.2.19.3: the tower ids of the string bindings exflow can place. */
const TOWER_TCP = 0x07;

export interface StringBinding {
  towerId: number;
  address: string;
  /** The port in "host[port]", or -1. */
  port: number;
}

/**
 * The string bindings of a ResolveOxid/ResolveOxid2 response stub (NDR, not NDR64):
 * the unique pointer to the DUALSTRINGARRAY, its conformance, wNumEntries,
 * wSecurityOffset, then the 16-bit array — string bindings up to wSecurityOffset.
 */
export function oxidBindings(stub: Buffer, le: boolean): StringBinding[] {
  const u16 = (o: number) => (le ? stub.readUInt16LE(o) : stub.readUInt16BE(o));
  const u32 = (o: number) => (le ? stub.readUInt32LE(o) : stub.readUInt32BE(o));
  if (stub.length < 12) throw new Malformed('OXID answer shorter than its header');
  if (u32(0) === 0) return []; // a null pointer: no bindings (an error answer)
  const count = u32(4);
  const entries = u16(8);
  const security = u16(10);
  if (entries > count || 12 + entries * 2 > stub.length || security > entries) throw new Malformed('DUALSTRINGARRAY sizes disagree');
  const out: StringBinding[] = [];
  let i = 0;
  while (i < security && out.length < 64) {
    const towerId = u16(12 + i * 2);
    if (towerId === 0) break; // the end of the string bindings
    i++;
    let s = '';
    while (i < security) {
      const c = u16(12 + i * 2);
      i++;
      if (c === 0) break;
      s += String.fromCharCode(c);
    }
    const m = /^(.*)\[(\d{1,5})\]$/.exec(s);
    out.push({ towerId, address: m ? m[1] : s, port: m && Number(m[2]) <= 65535 ? Number(m[2]) : -1 });
  }
  return out;
}

export function isTcpBinding(b: StringBinding): boolean {
  return b.towerId === TOWER_TCP && b.port > 0;
}

/**
 * The TCP string bindings of an activation answer ([MS-DCOM] 2.2.22.2.8
 * ScmReplyInfoData's OXID bindings, inside the activation properties blob): found
 * by their shape — tower id 7, a "host[port]" string in UTF-16LE, a zero —
 * wherever they sit in the stub, which spares a full decoding of the properties.
 */
export function activationBindings(stub: Buffer): StringBinding[] {
  const out: StringBinding[] = [];
  for (let i = 0; i + 4 <= stub.length && out.length < 16; i += 2) {
    if (stub.readUInt16LE(i) !== TOWER_TCP) continue;
    let s = '';
    let j = i + 2;
    for (; j + 2 <= stub.length && s.length < 260; j += 2) {
      const c = stub.readUInt16LE(j);
      if (c === 0) break;
      if (c < 0x20 || c > 0x7e) {
        s = '';
        break;
      }
      s += String.fromCharCode(c);
    }
    const m = /^([A-Za-z0-9.:_-]+)\[(\d{1,5})\]$/.exec(s);
    if (m && Number(m[2]) > 0 && Number(m[2]) <= 65535) {
      out.push({ towerId: TOWER_TCP, address: m[1], port: Number(m[2]) });
      i = j;
    }
  }
  return out;
}

/** A GUID as its 16 bytes on the wire (little-endian first three fields, as NDR writes it). */
export function guidBytes(uuid: string): Buffer {
  const h = uuid.replace(/-/g, '');
  const b = Buffer.from(h, 'hex');
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  return b;
}

/**
 * The class an activation request asks for: InstantiationInfoData's classId
 * ([MS-DCOM] 2.2.22.2.1), the first property of the activation blob — found from
 * the OBJREF_CUSTOM's signature: its object data (the blob) 48 bytes on, the
 * CustomHeader's headerSize 28 bytes into the blob, the first property after the
 * blob's 8-byte head and the CustomHeader, and classId after that property's two
 * 8-byte serialization headers. Null when the request does not have this shape.
 */
export function activationClsid(stub: Buffer): string | null {
  const meow = stub.indexOf(MEOW);
  if (meow < 0) return null;
  const blob = meow + 48;
  if (blob + 32 > stub.length) return null;
  const headerSize = stub.readUInt32LE(blob + 28);
  const at = blob + 8 + headerSize + 16;
  if (headerSize < 32 || at + 16 > stub.length) return null;
  return uuidAt(stub, at, true);
}

const MEOW = Buffer.from('MEOW', 'latin1');
