// Every cell of the Exchange 2007 mixed-organisation matrix (seed 000, German) is in
// rules/matrix-2007.yaml, with its text, and the Russian translation (001) agrees
// cell by cell. The tables are read out of the seed files here, independently of
// the generator that wrote the YAML.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRules } from '../src/rules/load';
import { SHARED } from './helpers';

const SEEDS = path.join(SHARED, '..', 'seeds');
const HAVE_SEEDS = fs.existsSync(path.join(SEEDS, '000_ff087c2bea7c4c0b.txt'));

type Table = { section: string; cells: { row: string; text: string }[] }[];

function lines(file: string): string[] {
  return fs.readFileSync(path.join(SEEDS, file), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && l !== '\u00a0');
}

/** 000: "Ports für die Kommunikation mit …", an intro line, then 14 × (row, cell) lines. */
function table000(): Table {
  const ls = lines('000_ff087c2bea7c4c0b.txt');
  const out: Table = [];
  for (let i = 0; i < ls.length; i++) {
    if (!ls[i].startsWith('Ports für die Kommunikation mit')) continue;
    const t = { section: ls[i], cells: [] as { row: string; text: string }[] };
    for (i += 2; i + 1 < ls.length && !ls[i].startsWith('Ports für') && !ls[i].startsWith('*'); i += 2) t.cells.push({ row: ls[i], text: ls[i + 1] });
    i--;
    out.push(t);
  }
  return out;
}

/** 001: "Порты для взаимодействия …", a header row, "---|---|", then 14 × ("row |", "cell |"). */
function table001(): Table {
  const ls = lines('001_3a23dc83f8bb23f0.txt');
  const out: Table = [];
  for (let i = 0; i < ls.length; i++) {
    if (!ls[i].startsWith('Порты для взаимодействия')) continue;
    const t = { section: ls[i], cells: [] as { row: string; text: string }[] };
    while (!ls[i].startsWith('---')) i++;
    const bare = (s: string) => s.replace(/\|\s*$/, '').trim();
    for (i++; i + 1 < ls.length && ls[i].includes('|') && !ls[i].startsWith('Порты для'); i += 2) t.cells.push({ row: bare(ls[i]), text: bare(ls[i + 1]) });
    i--;
    out.push(t);
  }
  return out;
}

// The seed's row names, in German, and the role ids they are encoded as. The sections
// come in the same order as the rows (hub, CAS, mailbox, … domain controller).
const ROW_ROLE: Record<string, string> = {
  'Exchange 2007-Hub-Transport-Server': 'hub-transport',
  'Exchange 2007-Clientzugriffsserver': 'client-access',
  'Exchange 2007-Postfachserver': 'mailbox',
  'Öffentliche Ordner (auf einem Exchange 2007-Postfachserver)': 'public-folders',
  'SMTP-Relayserver (in einem Umkreisnetzwerk)': 'smtp-relay',
  'Exchange 2007 Unified Messaging-Server': 'unified-messaging',
  'Outlook 2003-Client': 'outlook-2003',
  'Outlook 2007-Client': 'outlook',
  'Andere Clients (POP3/SMTP/IMAP4)': 'other-clients',
  'Exchange 2003-Bridgeheadserver': 'ex2003-bridgehead',
  'Exchange 2003-Front-End-Server': 'ex2003-front-end',
  'Öffentliche Ordner (auf einem Back-End-Server mit Exchange 2003)': 'ex2003-public-folders',
  'Back-End-Servercomputer mit Exchange 2003': 'ex2003-back-end',
  Domänencontroller: 'domain-controller',
};
const SECTION_ORDER = Object.values(ROW_ROLE);

/** What a cell's words commit the encoding to (a cross-check, not the mapping itself). */
const KEYWORDS: [RegExp, string][] = [
  [/SMTP/, 'smtp'],
  [/587/, 'smtp-submission'],
  [/LDAP/, 'ldap'],
  [/3268/, 'ldap-gc'],
  [/Kerberos/, 'kerberos'],
  [/DNS/, 'dns'],
  [/RPC MAPI/, 'mapi-rpc'],
  [/RPC (MAPI|netlogon)|135/, 'msrpc-epm'],
  [/netlogon/, 'ad-rpc'],
  [/POP3 \(110/, 'pop3'],
  [/IMAP/, 'imap4'],
  [/80\/443|HTTP/, 'http'],
  [/443/, 'https'],
  [/5060/, 'um-sip'],
];

describe.skipIf(!HAVE_SEEDS)('seed 000/001: the 2007 mixed-organisation matrix', () => {
  const rules = loadRules();
  const t0 = table000();
  const t1 = table001();

  it('reads 14 × 14 cells from each translation', () => {
    expect(t0.map((s) => s.cells.length)).toEqual(new Array(14).fill(14));
    expect(t1.map((s) => s.cells.length)).toEqual(new Array(14).fill(14));
    for (const s of t0) expect(s.cells.map((c) => ROW_ROLE[c.row])).toEqual(SECTION_ORDER);
  });

  it('every cell is encoded with its German and Russian text, and "no direct connection" as no services', () => {
    let encoded = 0;
    t0.forEach((section, si) => {
      section.cells.forEach((cell, ci) => {
        const from = ROW_ROLE[cell.row];
        const to = SECTION_ORDER[si];
        const id = `2007:${from}>${to}`;
        const rule = rules.matrix.find((m) => m.id === id);
        expect(rule, id).toBeDefined();
        expect(rule!.from).toBe(from);
        expect(rule!.to).toBe(to);
        expect(rule!.text, id).toBe(cell.text);
        expect(rules.raw.matrix.get(id)!.str('text_ru'), id).toBe(t1[si].cells[ci].text);
        const none0 = cell.text === 'Keine direkte Verbindung';
        const none1 = t1[si].cells[ci].text === 'Прямое подключение отсутствует';
        expect(none1, `${id}: 000 and 001 disagree on "no direct connection"`).toBe(none0);
        expect(rule!.services.length === 0, id).toBe(none0);
        for (const [re, service] of KEYWORDS) if (re.test(cell.text)) expect(rule!.services, `${id}: "${cell.text}"`).toContain(service);
        encoded++;
      });
    });
    expect(encoded).toBe(196);
    expect(rules.matrix.filter((m) => m.id.startsWith('2007:') && m.source.includes('matrix-2007.yaml'))).toHaveLength(196);
  });

  it('the one place the translations differ in substance is documented', () => {
    // 000 adds "häufig dynamisch" to four domain-controller cells; 001 does not.
    const differ = t0.flatMap((s, si) => s.cells.filter((c, ci) => /dynamisch/.test(c.text) !== /динамическ/.test(t1[si].cells[ci].text)).map((c) => `2007:${ROW_ROLE[c.row]}>${SECTION_ORDER[si]}`));
    expect(differ).toHaveLength(4);
    for (const id of differ) expect(rules.matrix.find((m) => m.id === id)!.note).toMatch(/000 adds "häufig dynamisch" here, 001 does not/);
  });
});
