// acmg's entries live in one delimited region. Adding or removing entries only ever rewrites that
// region; removing the last entry removes the region and restores the original bytes exactly.
// The begin marker carries a hash of the region's body, so a hand edit is detected, not overwritten.
import { createHash } from 'node:crypto';

export const REGION_BEGIN = '# acmg:begin';
export const REGION_END = '# acmg:end';
const NOTICE = 'managed by acmg, do not edit; see: acmg status';

export interface DnsEntry {
  /** Fully-qualified, lower case, without the trailing dot. */
  fqdn: string;
  ip: string;
}

export const hashBody = (body: string) => createHash('sha256').update(body).digest('hex').slice(0, 16);

export function sortEntries(entries: DnsEntry[]): DnsEntry[] {
  const byName = new Map<string, DnsEntry>();
  for (const e of entries) byName.set(e.fqdn.toLowerCase().replace(/\.$/, ''), { fqdn: e.fqdn.toLowerCase().replace(/\.$/, ''), ip: e.ip });
  return [...byName.values()].sort((a, b) => (a.fqdn < b.fqdn ? -1 : a.fqdn > b.fqdn ? 1 : 0));
}

export interface RenderOptions {
  mechanism: 'hosts' | 'server-blocks';
  ttl: number;
  /** Indentation of the region's first-level lines (the block's directive indent). */
  indent: string;
  /** One indentation step inside nested blocks. */
  step: string;
  /** Server port for per-name blocks. */
  port: number;
  /** Starts the body with RELOAD_MARK (see there). */
  mark?: boolean;
}

/**
 * A comment line that, added or removed, makes CoreDNS reload a region whose entries are the same.
 * CoreDNS's reload plugin compares a hash of the parsed config, line numbers included, and parses
 * imported files again after a reload: a change to an imported file (coredns-custom) that lands
 * while CoreDNS reloads is then taken as loaded, and never loaded. Shifting the lines below the
 * mark is a change it sees (comments alone are not: they are not tokens).
 */
export const RELOAD_MARK = '# acmg: reload';

/** The region's body lines (between the markers), already indented. */
export function renderBody(entries: DnsEntry[], o: RenderOptions): string {
  const sorted = sortEntries(entries);
  const i1 = o.indent;
  const i2 = o.indent + o.step;
  const i3 = i2 + o.step;
  if (o.mechanism === 'hosts') {
    return [
      `${i1}hosts {`,
      ...sorted.map((e) => `${i2}${e.ip} ${e.fqdn}`),
      `${i2}ttl ${o.ttl}`,
      // PTR for the gateway IP must not list every migrated name.
      `${i2}no_reverse`,
      `${i2}fallthrough`,
      `${i1}}`,
      '',
    ].join('\n');
  }
  // Where the cluster block's hosts plugin is taken: one server block whose keys are the migrated
  // names, one a line, so only they reach it. The keys are the whole list: templates answer, so a
  // name is written once (~40 bytes a name; a hosts line for each as well took ~100, so fewer than
  // 10,000 names fitted in a ConfigMap). Names are grouped by label count and address, and each
  // group's block answers, in order: a name below a migrated one (SRV _port._proto.<name>) NXDOMAIN,
  // as this block has no kubernetes plugin to ask; A (AAAA for an IPv6 address) with the address;
  // any other type with no data, as hosts did.
  // Every template gets the zone "." explicitly: without one a plugin takes every key of the block
  // as a zone and matches each query against all of them in turn (CoreDNS's plugin.Zones is a
  // list), which made CoreDNS 50 times slower at 10,000 names.
  const groups = new Map<string, { labels: number; ip: string; names: string[] }>();
  for (const e of sorted) {
    const labels = e.fqdn.split('.').length;
    const key = `${String(labels).padStart(3, '0')} ${e.ip}`;
    const g = groups.get(key) ?? { labels, ip: e.ip, names: [] };
    g.names.push(e.fqdn);
    groups.set(key, g);
  }
  return [...groups.keys()]
    .sort()
    .map((key) => {
      const { labels, ip, names } = groups.get(key)!;
      const type = ip.includes(':') ? 'AAAA' : 'A';
      return [
        ...names.map((n, i) => `${i1}${n}:${o.port}${i < names.length - 1 ? ',' : ' {'}`),
        `${i2}template ANY ANY . {`,
        `${i3}match "^([^.]+[.]){${labels + 1},}$"`,
        `${i3}rcode NXDOMAIN`,
        `${i3}fallthrough`,
        `${i2}}`,
        `${i2}template IN ${type} . {`,
        `${i3}answer "{{ .Name }} ${o.ttl} IN ${type} ${ip}"`,
        `${i3}fallthrough`,
        `${i2}}`,
        `${i2}template ANY ANY . {`,
        `${i3}rcode NOERROR`,
        `${i2}}`,
        `${i1}}`,
        '',
      ].join('\n');
    })
    .join('');
}

export function renderRegion(entries: DnsEntry[], o: RenderOptions): string {
  const body = (o.mark ? `${o.indent}${RELOAD_MARK}\n` : '') + renderBody(entries, o);
  return `${o.indent}${REGION_BEGIN} sha256=${hashBody(body)} ${o.mechanism} (${NOTICE})\n${body}${o.indent}${REGION_END}\n`;
}

export interface FoundRegion {
  /** Offsets of the whole region (marker lines included) in the text. */
  start: number;
  end: number;
  mechanism: 'hosts' | 'server-blocks';
  entries: DnsEntry[];
  /** The body no longer matches the hash in the begin marker: someone edited it by hand. */
  tampered: boolean;
  /**
   * Its markers are missing, doubled, nested or out of order: where acmg's text ends is unknown, so
   * acmg writes nothing there, --force or not (removing "to the end" could take the user's text).
   */
  damaged: boolean;
  /** The body starts with RELOAD_MARK. */
  marked: boolean;
  problem?: string;
}

function damagedRegion(text: string, at: number, problem: string): FoundRegion {
  const start = text.lastIndexOf('\n', at) + 1;
  return {
    start,
    end: start,
    mechanism: 'hosts',
    entries: [],
    tampered: true,
    damaged: true,
    marked: false,
    problem: `${problem}: repair or remove acmg's marker lines by hand (the ConfigMap coredns-acmg-backup in the same namespace holds the Corefile as acmg found it)`,
  };
}

const ENTRY_LINE = /^\s*([0-9a-fA-F.:]+)\s+([A-Za-z0-9._-]+)\s*$/;
const KEY_LINE = /^\s*([A-Za-z0-9._-]+):\d+\s*[,{]\s*$/;
const ANSWER_LINE = /^\s*answer "\{\{ \.Name \}\} \d+ IN (?:A|AAAA) ([0-9a-fA-F.:]+)"\s*$/;

export function findRegion(text: string): FoundRegion | undefined {
  const b = text.indexOf(REGION_BEGIN);
  if (b < 0) {
    const stray = text.indexOf(REGION_END);
    if (stray < 0) return undefined;
    const line = text.slice(0, stray).split('\n').length;
    return damagedRegion(text, stray, `line ${line} has an "${REGION_END}" marker without its "${REGION_BEGIN}"`);
  }
  const start = text.lastIndexOf('\n', b) + 1;
  const beginLineEnd = text.indexOf('\n', b);
  const e = text.indexOf(REGION_END, b + REGION_BEGIN.length);
  const line = text.slice(0, b).split('\n').length;
  if (beginLineEnd < 0 || e < 0) return damagedRegion(text, b, `the acmg region starting on line ${line} has no "${REGION_END}" marker`);
  const nested = text.indexOf(REGION_BEGIN, b + REGION_BEGIN.length);
  if (nested >= 0 && nested < e)
    return damagedRegion(text, b, `the acmg region starting on line ${line} has a second "${REGION_BEGIN}" before its end (nested regions)`);
  const strayEnd = text.slice(0, b).indexOf(REGION_END);
  if (strayEnd >= 0) return damagedRegion(text, b, `an "${REGION_END}" marker comes before the acmg region starting on line ${line}`);
  const endLineEnd = text.indexOf('\n', e);
  const end = endLineEnd < 0 ? text.length : endLineEnd + 1;
  const header = text.slice(b, beginLineEnd);
  const m = header.match(/sha256=([0-9a-f]+) (hosts|server-blocks)/);
  const body = text.slice(beginLineEnd + 1, text.lastIndexOf('\n', e) + 1);
  const mechanism = (m?.[2] as FoundRegion['mechanism']) ?? 'hosts';
  const entries: DnsEntry[] = [];
  // hosts lines (the hosts mechanism, and server blocks as acmg wrote them before), or a server
  // block's keys with the address its template answers.
  let keys: string[] = [];
  for (const l of body.split('\n')) {
    const em = l.match(ENTRY_LINE);
    if (em) entries.push({ ip: em[1]!, fqdn: em[2]!.toLowerCase() });
    const km = l.match(KEY_LINE);
    if (km) keys.push(km[1]!.toLowerCase());
    const am = l.match(ANSWER_LINE);
    if (am) {
      for (const fqdn of keys) entries.push({ ip: am[1]!, fqdn });
      keys = [];
    }
  }
  const after = text.indexOf(REGION_BEGIN, end);
  if (after >= 0 || text.indexOf(REGION_END, end) >= 0) return damagedRegion(text, b, `there is more than one acmg region (line ${line}, and again after it)`);
  const tampered = !m || m[1] !== hashBody(body);
  return {
    start,
    end,
    mechanism,
    entries: sortEntries(entries),
    tampered,
    damaged: false,
    marked: body.trimStart().startsWith(RELOAD_MARK),
    problem: tampered ? `the acmg region on line ${line} was edited by hand (its content no longer matches the hash acmg wrote)` : undefined,
  };
}
