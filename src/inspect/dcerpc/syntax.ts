// Wire constants of DCE/RPC itself: the NDR64 transfer syntax (C706 14; [MS-RPCE]
// 2.2.4.12) — an accepted context that names it reads its stubs as NDR64, any other
// as NDR — and the endpoint mapper's interface, operations and status. Protocol
// mechanism, not interface knowledge, so they live here rather than in rules/.
// (Bind-time feature negotiation is recognised by its answer, result 3, in binds.ts.)

export const NDR64_UUID = '71710533-beba-4937-8319-b5dbef9ccc36';

/** The endpoint mapper interface (C706 appendix O; [MS-RPCE] 2.2.1.2.5). */
export const EPM_UUID = 'e1af8308-5d1f-11c9-91a4-08002b14a0fa';

export const enum EpmOp {
  Lookup = 2,
  Map = 3,
}

/** ept_map/ept_lookup status "no more entries / not registered" (EPT_S_NOT_REGISTERED). */
export const EPT_S_NOT_REGISTERED = 0x16c9a0d6;
