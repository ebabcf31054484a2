// Which CoreDNS layout a cluster has, and how acmg writes its entries there. Detected from the
// Corefile and the coredns-custom ConfigMap, never assumed.
import { CorefileError, parseCorefile, parseServerKey, serverBlocks, type Corefile, type Directive, type ServerBlock } from './corefile.js';
import { REGION_BEGIN, REGION_END } from './region.js';

export type LayoutKind = 'corefile' | 'custom';
/** hosts: one `hosts` block (O(1) lookups) in the cluster block. server-blocks: one small server
 * block per name, used where the cluster block already has a `hosts` (k3s, minikube). */
export type Mechanism = 'hosts' | 'server-blocks';

export interface Layout {
  kind: LayoutKind;
  mechanism: Mechanism;
  clusterDomain: string;
  /** Port of the server block that serves the cluster domain (53 in every real layout). */
  port: number;
  /** custom layout: the coredns-custom key acmg owns. */
  customKey?: string;
  /**
   * Whether CoreDNS notices a change by itself: some server block has the `reload` plugin (it hashes
   * the Corefile with its imports expanded, so coredns-custom changes count). Without it a change
   * is served only by CoreDNS pods started after it: acmg restarts the Deployment.
   */
  reloads: boolean;
  /** Human description for status and errors. */
  description: string;
}

export class LayoutError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'LayoutError';
  }
}

export interface DetectInput {
  corefile: string;
  /** Keys of the coredns-custom ConfigMap, undefined if it does not exist. */
  custom?: Record<string, string>;
  mode: 'auto' | 'corefile' | 'custom';
  clusterDomain: string; // 'auto' or a domain
}

const isReverse = (z: string) => /\.arpa\.?$/i.test(z);
const stripDot = (z: string) => z.replace(/\.$/, '');

/** Offsets [start, end) of acmg's region in a text, if any (used to ignore its own directives). */
export function regionSpan(text: string): [number, number] | undefined {
  const b = text.indexOf(REGION_BEGIN);
  if (b < 0) return undefined;
  const e = text.indexOf(REGION_END, b);
  return [text.lastIndexOf('\n', b) + 1, e < 0 ? text.length : e + REGION_END.length];
}

function directivesOutsideRegion(cf: Corefile, block: ServerBlock): Directive[] {
  const span = regionSpan(cf.source);
  return block.block.directives.filter((d) => !span || d.lineStart < span[0] || d.lineStart >= span[1]);
}

export function parseForLayout(corefile: string): Corefile {
  try {
    return parseCorefile(corefile);
  } catch (e) {
    if (e instanceof CorefileError)
      throw new LayoutError(`the Corefile is malformed: ${e.message}`, 'fix the coredns ConfigMap first; acmg writes nothing to a Corefile it cannot parse');
    throw e;
  }
}

/** The server block with the kubernetes plugin serving the cluster domain, and that domain. */
export function findClusterBlock(cf: Corefile, wanted: string): { block: ServerBlock; domain: string; port: number } {
  const candidates: { block: ServerBlock; zones: string[] }[] = [];
  for (const block of serverBlocks(cf)) {
    for (const d of block.block.directives) {
      if (d.name !== 'kubernetes') continue;
      const zones = (d.args.length ? d.args : block.keys.map((k) => parseServerKey(k).zone)).map((z) => stripDot(z.toLowerCase())).filter((z) => !isReverse(z));
      candidates.push({ block, zones });
    }
  }
  if (candidates.length === 0) {
    throw new LayoutError(
      'no server block in the Corefile uses the kubernetes plugin, so CoreDNS does not serve the cluster domain',
      'acmg supports CoreDNS serving Services through its kubernetes plugin (kubeadm, kind, EKS, AKS, k3s, minikube, RKE2...)',
    );
  }
  let pick = candidates[0]!;
  if (wanted !== 'auto') {
    const match = candidates.find((c) => c.zones.includes(wanted));
    if (!match)
      throw new LayoutError(
        `dns.clusterDomain is "${wanted}" but the kubernetes plugin serves ${candidates.flatMap((c) => c.zones).join(', ') || 'no forward zone'}`,
        'set dns.clusterDomain=auto, or to the domain the Corefile serves',
      );
    pick = match;
  } else if (candidates.length > 1) {
    throw new LayoutError(
      `the kubernetes plugin appears in ${candidates.length} server blocks (${candidates.map((c) => c.block.keys.join(' ')).join('; ')})`,
      'set dns.clusterDomain to choose the cluster domain',
    );
  }
  const domain = wanted !== 'auto' ? wanted : pick.zones[0];
  if (!domain) throw new LayoutError('the kubernetes plugin serves only reverse zones', 'set dns.clusterDomain explicitly');
  const ports = pick.block.keys.map((k) => parseServerKey(k).port ?? 53);
  return { block: pick.block, domain, port: ports[0] ?? 53 };
}

function importsMatching(directives: { name: string; args: string[] }[], suffix: string): boolean {
  return directives.some((d) => d.name === 'import' && d.args.some((a) => a.endsWith(suffix)));
}

const hostsInText = (text: string) => {
  try {
    return parseCorefileSnippet(text).some((d) => d.name === 'hosts');
  } catch {
    return false;
  }
};

/** Whether some server block (outside acmg's region) has the reload plugin: one reloads them all. */
export function reloadsIn(cf: Corefile): boolean {
  return serverBlocks(cf).some((b) => directivesOutsideRegion(cf, b).some((d) => d.name === 'reload'));
}

/** Directives of an .override file (a block body without braces). */
function parseCorefileSnippet(text: string): Directive[] {
  const cf = parseCorefile(`acmg-snippet-probe {\n${text}\n}\n`);
  return serverBlocks(cf)[0]?.block.directives ?? [];
}

export function detectLayout(input: DetectInput): Layout {
  const cf = parseForLayout(input.corefile);
  const { block, domain, port } = findClusterBlock(cf, input.clusterDomain);
  const inBlock = directivesOutsideRegion(cf, block);
  const overrideImport = importsMatching(inBlock, '.override');
  const topImports = cf.items.filter((i) => i.kind === 'import').map((i) => ({ name: 'import', args: (i as { args: string[] }).args }));
  const serverImport = importsMatching(topImports, '.server');
  const customOverrides = Object.entries(input.custom ?? {}).filter(([k]) => k.endsWith('.override') && !k.startsWith('acmg.'));
  const hostsTaken = inBlock.some((d) => d.name === 'hosts') || (overrideImport && customOverrides.some(([, v]) => hostsInText(v)));
  const mechanism: Mechanism = hostsTaken ? 'server-blocks' : 'hosts';
  const reloads = reloadsIn(cf);
  const restartNote = reloads ? '' : '; no reload plugin: acmg restarts CoreDNS after each change';

  let kind: LayoutKind;
  if (input.mode === 'custom') {
    if (!overrideImport && !serverImport) {
      throw new LayoutError(
        'dns.mode is "custom" but the Corefile imports nothing from coredns-custom (no import of *.override or *.server)',
        'use dns.mode=corefile (or auto) on this cluster',
      );
    }
    kind = 'custom';
  } else if (input.mode === 'corefile') kind = 'corefile';
  else kind = overrideImport || serverImport ? 'custom' : 'corefile';

  if (kind === 'custom') {
    const needs = mechanism === 'hosts' ? overrideImport : serverImport;
    if (!needs) {
      // Fall back to the import that exists, if the mechanism allows it.
      if (mechanism === 'hosts' && serverImport) return custom('server-blocks');
      throw new LayoutError(
        mechanism === 'server-blocks'
          ? 'the cluster block already uses the hosts plugin and the Corefile does not import *.server files from coredns-custom'
          : 'the Corefile imports neither *.override nor *.server files from coredns-custom',
        'use dns.mode=corefile if acmg may edit the Corefile on this cluster',
      );
    }
    return custom(mechanism);
  }
  return {
    kind: 'corefile',
    mechanism,
    clusterDomain: domain,
    port,
    reloads,
    description: `Corefile in the coredns ConfigMap, ${mechanism === 'hosts' ? 'a hosts block in the cluster server block' : 'one server block per name (the cluster block already uses hosts)'}${restartNote}`,
  };

  function custom(m: Mechanism): Layout {
    const customKey = m === 'hosts' ? 'acmg.override' : 'acmg.server';
    return {
      kind: 'custom',
      mechanism: m,
      clusterDomain: domain,
      port,
      customKey,
      reloads,
      description: `coredns-custom ConfigMap, key ${customKey} (the main Corefile is left untouched)${restartNote}`,
    };
  }
}
