// NTLMSSP messages ([MS-NLMP] 2.2.1): the one reader for every carrier (DCE/RPC
// auth trailers, SMB session setup, HTTP Authorization, LDAP SASL and Sicily binds,
// the mail protocols' AUTH NTLM). From a CHALLENGE it takes the names the server
// gives itself (TargetInfo AV pairs, 2.2.2.1); from an AUTHENTICATE the account,
// the workstation and the NTLM version, told by the length of the NT response
// (24 bytes: NTLMv1 or its NTLM2 session response; longer: NTLMv2, whose client
// blob holds AV pairs with the MIC flag and the channel bindings, 2.2.2.7). The
// responses themselves are never kept.
import { u16le, u32le } from '../../capture/bytes';
import type { AuthFacts } from './facts';

const SIGNATURE = [0x4e, 0x54, 0x4c, 0x4d, 0x53, 0x53, 0x50, 0x00]; // "NTLMSSP\0"

/** NegotiateFlags bits (2.2.2.5). */
const enum Flag {
  Unicode = 0x00000001,
  Sign = 0x00000010,
  Seal = 0x00000020,
  ExtendedSessionSecurity = 0x00080000,
}

/** AV pair ids (2.2.2.1). */
const enum Av {
  Eol = 0,
  NbComputerName = 1,
  NbDomainName = 2,
  DnsComputerName = 3,
  DnsDomainName = 4,
  DnsTreeName = 5,
  Flags = 6,
  ChannelBindings = 10,
}
/** MsvAvFlags bit: the AUTHENTICATE carries a MIC. */
const AV_FLAG_MIC = 0x2;

/** Where the server names in a CHALLENGE go, as sources of host names. */
const TARGET_NAMES: Record<number, string> = {
  [Av.NbComputerName]: 'ntlm-netbios-computer',
  [Av.NbDomainName]: 'ntlm-netbios-domain',
  [Av.DnsComputerName]: 'ntlm-dns-computer',
  [Av.DnsDomainName]: 'ntlm-dns-domain',
  [Av.DnsTreeName]: 'ntlm-dns-tree',
};

/** The offset of "NTLMSSP\0" in b[o, end), or -1. */
export function findNtlmssp(b: Uint8Array, o: number, end: number): number {
  outer: for (let i = o; i + 12 <= end; i++) {
    for (let k = 0; k < 8; k++) if (b[i + k] !== SIGNATURE[k]) continue outer;
    return i;
  }
  return -1;
}

export function isNtlmssp(b: Uint8Array, o: number, end: number): boolean {
  if (end - o < 12) return false;
  for (let k = 0; k < 8; k++) if (b[o + k] !== SIGNATURE[k]) return false;
  return true;
}

/**
 * Reads the NTLMSSP message at b[o, end) into `facts`. Returns its type (1, 2, 3),
 * or 0 when it is not one or is cut short. A CHALLENGE names the server, so
 * its names are the server side's.
 */
export function readNtlmssp(b: Uint8Array, o: number, end: number, facts: AuthFacts): number {
  if (!isNtlmssp(b, o, end)) return 0;
  const type = u32le(b, o + 8);
  if (type === 1) {
    facts.setMech('ntlm');
    return 1;
  }
  if (type === 2) {
    facts.setMech('ntlm');
    if (end - o < 48) return 0;
    const info = field(b, o, end, 40);
    if (info) avPairs(b, info[0], info[0] + info[1], (id, at, len) => {
      const source = TARGET_NAMES[id];
      if (source) facts.name('server', source, utf16(b, at, len));
    });
    return 2;
  }
  if (type !== 3 || end - o < 64) return 0;
  facts.setMech('ntlm');
  const flags = u32le(b, o + 60);
  const unicode = (flags & Flag.Unicode) !== 0;
  const lm = field(b, o, end, 12);
  const nt = field(b, o, end, 20);
  const domain = text(b, field(b, o, end, 28), unicode);
  const user = text(b, field(b, o, end, 36), unicode);
  const workstation = text(b, field(b, o, end, 44), unicode);
  const ntLen = nt ? nt[1] : 0;
  const lmLen = lm ? lm[1] : 0;
  if (ntLen === 0 && user === '') {
    facts.ntlm('anonymous');
    facts.anonymousNtlm(); // a NULL session: no credentials at all
  } else if (ntLen === 24) {
    // NTLMv1. With extended session security the LM field carries the client's
    // challenge, not an LM response; without it, a 24-byte LM field that is not a
    // copy of the NT response is the LM response itself.
    const lmPresent = lmLen === 24 && (flags & Flag.ExtendedSessionSecurity) === 0 && !sameBytes(b, lm![0], nt![0], 24);
    facts.ntlm(lmPresent ? 'lm' : 'v1');
  } else if (ntLen > 24 && nt) {
    facts.ntlm('v2');
    // NTProofStr (16), then the blob: RespType, HiRespType, 6 reserved, time (8), client challenge (8), 4 reserved, AV pairs.
    let mic = false;
    let cbt = false;
    avPairs(b, nt[0] + 16 + 28, nt[0] + ntLen, (id, at, len) => {
      if (id === Av.Flags && len >= 4 && (u32le(b, at) & AV_FLAG_MIC) !== 0) mic = true;
      if (id === Av.ChannelBindings && len === 16 && !allZero(b, at, 16)) cbt = true;
    });
    facts.ntlmMic = facts.ntlmMic === null ? mic : facts.ntlmMic && mic;
    facts.ntlmChannelBindings = facts.ntlmChannelBindings === null ? cbt : facts.ntlmChannelBindings && cbt;
  } else if (ntLen > 0) {
    facts.ntlm('v1'); // shorter than any valid response: the weakest reading
  }
  if (user !== '') facts.setAccount(domain !== '' ? `${domain}\\${user}` : user);
  if (workstation !== '' && facts.workstation === null) facts.workstation = workstation.slice(0, 256);
  facts.ntlmSign ||= (flags & Flag.Sign) !== 0;
  facts.ntlmSeal ||= (flags & Flag.Seal) !== 0;
  return 3;
}

/** A (length, maxLength, offset) field at `at` of the message at `o`: [absolute offset, length], or null when it points outside. */
function field(b: Uint8Array, o: number, end: number, at: number): [number, number] | null {
  if (o + at + 8 > end) return null;
  const len = u16le(b, o + at);
  const off = u32le(b, o + at + 4);
  if (len === 0) return [o, 0];
  if (off > end - o || len > end - o - off) return null;
  return [o + off, len];
}

function text(b: Uint8Array, f: [number, number] | null, unicode: boolean): string {
  if (!f || f[1] === 0) return '';
  return unicode ? utf16(b, f[0], f[1]) : Buffer.from(b.buffer, b.byteOffset + f[0], f[1]).toString('latin1');
}

function utf16(b: Uint8Array, at: number, len: number): string {
  return Buffer.from(b.buffer, b.byteOffset + at, len & ~1).toString('utf16le');
}

function avPairs(b: Uint8Array, at: number, end: number, each: (id: number, at: number, len: number) => void): void {
  for (let guard = 0; guard < 64 && at + 4 <= end; guard++) {
    const id = u16le(b, at);
    const len = u16le(b, at + 2);
    if (id === Av.Eol || at + 4 + len > end) return;
    each(id, at + 4, len);
    at += 4 + len;
  }
}

function sameBytes(b: Uint8Array, x: number, y: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (b[x + i] !== b[y + i]) return false;
  return true;
}

function allZero(b: Uint8Array, at: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (b[at + i] !== 0) return false;
  return true;
}
