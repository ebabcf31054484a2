// The CoreDNS engine (pure): given the cluster's DNS config and the entries acmg wants, compute the
// new config. Only acmg's region (Corefile layout) or acmg's key (custom layout) ever changes.
import { parseCorefile } from './corefile.js';
import { findClusterBlock, LayoutError, type Layout } from './layout.js';
import { findRegion, renderRegion, sortEntries, type DnsEntry, type FoundRegion } from './region.js';

export interface DnsConfig {
  /** The main Corefile (coredns ConfigMap, key Corefile). */
  corefile: string;
  /** coredns-custom ConfigMap data; undefined when the ConfigMap does not exist. */
  custom?: Record<string, string>;
}

export interface DnsChange {
  config: DnsConfig;
  changed: boolean;
  corefileChanged: boolean;
  customChanged: boolean;
}

export interface ReadResult {
  entries: DnsEntry[];
  /** Regions found (in the Corefile and/or coredns-custom keys). */
  regions: { where: string; region: FoundRegion }[];
}

const ACMG_KEY = /^acmg\.(override|server)$/;

export function readEntries(config: DnsConfig): ReadResult {
  const regions: ReadResult['regions'] = [];
  const inCorefile = findRegion(config.corefile);
  if (inCorefile) regions.push({ where: 'Corefile', region: inCorefile });
  for (const [k, v] of Object.entries(config.custom ?? {}).sort()) {
    if (!ACMG_KEY.test(k)) continue;
    const r = findRegion(v);
    if (r) regions.push({ where: `coredns-custom/${k}`, region: r });
  }
  return { entries: sortEntries(regions.flatMap((r) => r.region.entries)), regions };
}

function indentOf(line: string): string {
  return line.slice(0, line.length - line.trimStart().length);
}

function removeRegion(text: string, r: FoundRegion): string {
  return text.slice(0, r.start) + text.slice(r.end);
}

/** Inserts the region into a Corefile that has none. */
function insertRegion(corefile: string, entries: DnsEntry[], layout: Layout, ttl: number, mark: boolean): string {
  if (layout.mechanism === 'server-blocks') {
    // Top level, at the start: server block order does not matter to CoreDNS (zones route by
    // specificity), and removing a region that ends in "\n" from offset 0 restores the original.
    return renderRegion(entries, { mechanism: 'server-blocks', ttl, indent: '', step: '    ', port: layout.port, mark }) + corefile;
  }
  const cf = parseCorefile(corefile);
  const { block } = findClusterBlock(cf, layout.clusterDomain);
  const close = block.block.close;
  const at = corefile.lastIndexOf('\n', close.start - 1) + 1;
  if (at <= block.block.open.start) {
    throw new LayoutError(
      `the server block on line ${block.line} closes on the line it opens; acmg cannot add a region to it safely`,
      'put the closing "}" of that server block on its own line',
    );
  }
  const first = block.block.directives[0];
  const indent = first ? indentOf(corefile.slice(first.lineStart, first.nameToken.start)) : '    ';
  const step = indent.startsWith('\t') ? '\t' : indent.length > 0 ? ' '.repeat(Math.min(indent.length, 4)) : '    ';
  return (
    corefile.slice(0, at) + renderRegion(entries, { mechanism: 'hosts', ttl, indent: indent || '    ', step, port: layout.port, mark }) + corefile.slice(at)
  );
}

/** The API server refuses a ConfigMap whose data exceeds 1 MiB; refuse before writing. */
export const CONFIGMAP_LIMIT_BYTES = 1024 * 1024;

const dataBytes = (layout: Layout, corefile: string, custom: Record<string, string> | undefined) =>
  layout.kind === 'corefile'
    ? Buffer.byteLength(corefile)
    : Object.entries(custom ?? {}).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);

/** `base` is the same ConfigMap without acmg's entries: the number that fits is what the rest leaves room for. */
function checkSize(written: DnsConfig, base: DnsConfig, layout: Layout, entries: number): void {
  const bytes = dataBytes(layout, written.corefile, written.custom);
  if (bytes <= CONFIGMAP_LIMIT_BYTES) return;
  const where = layout.kind === 'corefile' ? 'the coredns ConfigMap' : 'the coredns-custom ConfigMap';
  const rest = dataBytes(layout, base.corefile, base.custom);
  const per = Math.ceil((bytes - rest) / Math.max(1, entries));
  const fit = Math.max(0, Math.floor((CONFIGMAP_LIMIT_BYTES - rest) / per));
  throw new LayoutError(
    `${entries} DNS entries would make ${where} ${bytes} bytes, over the 1 MiB a ConfigMap can hold (about ${per} bytes an entry with the ${layout.mechanism} mechanism, and ${rest} bytes of its own: at most ~${fit} entries)`,
    'migrate fewer services per cluster DNS (shorter Service and namespace names take fewer bytes)',
  );
}

/** A region whose markers are broken (findRegion's `damaged`) is refused, --force or not. */
function refuseDamaged(config: DnsConfig): void {
  const damaged = readEntries(config).regions.filter((r) => r.region.damaged);
  if (damaged.length)
    throw new LayoutError(
      damaged.map((d) => `${d.where}: ${d.region.problem}`).join('; '),
      'acmg changes nothing in cluster DNS until its region is whole again (or gone)',
    );
}

/** The config without any acmg region or key: byte for byte what it was before acmg wrote. */
export function stripRegions(config: DnsConfig): DnsConfig {
  refuseDamaged(config);
  const region = findRegion(config.corefile);
  const corefile = region ? removeRegion(config.corefile, region) : config.corefile;
  const custom = config.custom === undefined ? undefined : Object.fromEntries(Object.entries(config.custom).filter(([k]) => !ACMG_KEY.test(k)));
  return { corefile, custom };
}

export interface SetOptions {
  ttl: number;
  /** Overwrite a region that was edited by hand (otherwise: refuse). */
  force?: boolean;
  /**
   * Flip the region's reload mark (RELOAD_MARK), so the write is a change CoreDNS reloads even with
   * the same entries. Otherwise the mark stays as it is, and the same entries are no change.
   */
  toggleMark?: boolean;
}

/**
 * Computes the config with exactly `entries` as acmg's DNS entries. Idempotent; an empty list
 * removes every acmg region and key, which restores the original Corefile byte for byte.
 */
export function setEntries(config: DnsConfig, layout: Layout, entries: DnsEntry[], opts: SetOptions): DnsChange {
  const want = sortEntries(entries);
  refuseDamaged(config);
  const current = readEntries(config);
  const tampered = current.regions.filter((r) => r.region.tampered);
  if (tampered.length > 0 && !opts.force) {
    throw new LayoutError(
      tampered.map((t) => `${t.where}: ${t.region.problem}`).join('; '),
      're-run with --force to let acmg rewrite its region (hand edits inside it are lost), or restore it',
    );
  }

  // Strip every acmg region/key, then write the one the layout wants. A layout that changed
  // since the last write (e.g. someone added `hosts` to the block) converges here.
  const stripped = stripRegions(config);
  const marked = current.regions.some((r) => r.region.marked);
  const mark = opts.toggleMark ? !marked : marked;
  let corefile = stripped.corefile;
  let custom = stripped.custom;

  if (want.length > 0) {
    if (layout.kind === 'corefile') corefile = insertRegion(corefile, want, layout, opts.ttl, mark);
    else {
      custom = custom ?? {};
      custom[layout.customKey!] = renderRegion(want, { mechanism: layout.mechanism, ttl: opts.ttl, indent: '', step: '    ', port: layout.port, mark });
    }
  }

  // The hosts mechanism edits the cluster block: re-check it has exactly one hosts plugin. The
  // server-block region is generated text, verified to parse by the unit tests, so it is not
  // re-parsed here (that would be most of the time at 10,000 entries).
  if (layout.kind === 'corefile' && layout.mechanism === 'hosts' && want.length > 0) {
    const { block } = findClusterBlock(parseCorefile(corefile), layout.clusterDomain);
    const n = block.block.directives.filter((d) => d.name === 'hosts').length;
    if (n > 1) throw new LayoutError(`internal error: the cluster block would have ${n} hosts plugins`);
  }
  checkSize({ corefile, custom }, stripped, layout, want.length);
  // Never a Corefile acmg's own parser cannot read back, every server block closed (the hosts
  // mechanism's check above has parsed it already).
  const parsed = layout.kind === 'corefile' && layout.mechanism === 'hosts' && want.length > 0;
  if (corefile !== config.corefile && !parsed) {
    try {
      parseCorefile(corefile);
    } catch (e) {
      throw new LayoutError(`internal error: the Corefile acmg would write does not parse (${(e as Error).message}); nothing was written`);
    }
  }

  const customOut = custom && Object.keys(custom).length === 0 && config.custom === undefined ? undefined : custom;
  const corefileChanged = corefile !== config.corefile;
  const customChanged = JSON.stringify(customOut ?? null) !== JSON.stringify(config.custom ?? null);
  return { config: { corefile, custom: customOut }, changed: corefileChanged || customChanged, corefileChanged, customChanged };
}

export function addEntries(config: DnsConfig, layout: Layout, add: DnsEntry[], opts: SetOptions): DnsChange {
  const current = readEntries(config).entries.filter((e) => !add.some((a) => a.fqdn === e.fqdn));
  return setEntries(config, layout, [...current, ...add], opts);
}

export function removeEntries(config: DnsConfig, layout: Layout, fqdns: string[], opts: SetOptions): DnsChange {
  const drop = new Set(fqdns.map((f) => f.toLowerCase().replace(/\.$/, '')));
  return setEntries(
    config,
    layout,
    readEntries(config).entries.filter((e) => !drop.has(e.fqdn)),
    opts,
  );
}
