// Transfer syntaxes: the wire encodings a presentation context can negotiate
// (C706 14; [MS-RPCE] 2.2.4.12 for NDR64, 3.3.1.5.3 for bind-time feature
// negotiation). Protocol mechanism, not interface knowledge, so they live here
// rather than in rules/rpc-interfaces.yaml.

export const NDR_UUID = '8a885d04-1ceb-11c9-9fe8-08002b104860';
export const NDR64_UUID = '71710533-beba-4937-8319-b5dbef9ccc36';
/** Bind-time feature negotiation: the bytes after this prefix are a feature bitmask. */
export const BTFN_PREFIX = '6cb71c2c-9812-4540-';

/** The endpoint mapper interface (C706 appendix O; [MS-RPCE] 2.2.1.2.5). */
export const EPM_UUID = 'e1af8308-5d1f-11c9-91a4-08002b14a0fa';

export const enum EpmOp {
  Lookup = 2,
  Map = 3,
}

/** ept_map/ept_lookup status "no more entries / not registered" (EPT_S_NOT_REGISTERED). */
export const EPT_S_NOT_REGISTERED = 0x16c9a0d6;

export function isTransferSyntax(uuid: string): boolean {
  return uuid === NDR_UUID || uuid === NDR64_UUID || uuid.startsWith(BTFN_PREFIX);
}
