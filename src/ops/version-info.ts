// acmg version, the cluster's part: the Kubernetes API server, the installed acmg (its install
// record), istiod (its Deployment's image tag, else its version labels) and CoreDNS (its
// Deployment's image tag). Reads only; each part that the API server refuses or that is absent is
// reported as such, and only a cluster that cannot be reached at all fails the whole read.
import { AcmgError, ExitCode } from '../errors.js';
import { ApiError, explainApiError, type KubeApi } from '../kube/api.js';
import { locateState } from '../kube/state.js';
import type { KObject } from '../model/object.js';
import { DEFAULT_INSTALL_NAMESPACE } from '../model/state.js';
import { corednsDeployment } from './coredns-restart.js';

const ISTIO_NAMESPACE = 'istio-system';
const DEFAULT_DNS_NAMESPACE = 'kube-system';

export interface InstalledAcmg {
  installed: boolean;
  /** Where acmg's state was looked for (or found). */
  namespace: string;
  version?: string;
  profile?: string;
  revision?: string;
  inProgress?: boolean;
  error?: string;
}

export interface DeploymentVersion {
  namespace: string;
  name: string;
  /** The version, or undefined when neither the image tag nor a label names one. */
  version?: string;
  /** Where the version came from: "image" or "label <key>". */
  source?: string;
  image?: string;
  revision?: string;
}

export interface ComponentRead {
  /** The namespace acmg looked in. */
  namespace: string;
  /** The Deployments found, by name (none: the component is not there). */
  deployments: DeploymentVersion[];
  /** The API server's refusal, if it refused the read. */
  error?: string;
}

export interface ServerVersions {
  kubernetes: { gitVersion: string; major: string; minor: string };
  acmg: InstalledAcmg;
  /** Deployments labelled app=istiod in istio-system (one per revision). */
  istiod: ComponentRead;
  /** The Deployment labelled k8s-app=kube-dns, else named coredns, in the DNS namespace. */
  coredns: ComponentRead;
}

/** The tag of an image reference (registry:5000/istio/pilot:1.24.0@sha256:... -> 1.24.0), if it has one. */
export function imageTag(image: string | undefined): string | undefined {
  if (!image) return undefined;
  const name = image.split('@')[0]!;
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  return colon > slash ? name.slice(colon + 1) || undefined : undefined;
}

/** A tag that names a version (1.24.0, v1.11.3, 1.31-dev, 1.24.0-distroless), without Istio's image variants. */
export function versionOfTag(tag: string | undefined): string | undefined {
  if (!tag || !/^v?\d+(\.\d+)*([.+-][\w.+-]*)?$/.test(tag)) return undefined;
  return tag.replace(/-(distroless|debug)$/, '');
}

function containerImage(d: KObject, preferred: string): string | undefined {
  const cs: { name: string; image?: string }[] = (d.spec as any)?.template?.spec?.containers ?? [];
  return (cs.find((c) => c.name === preferred) ?? cs[0])?.image;
}

/** Labels Istio's charts and operator put on istiod, in the order they are trusted. */
const ISTIOD_VERSION_LABELS = ['app.kubernetes.io/version', 'operator.istio.io/version', 'helm.sh/chart'];

/** istiod's version: its discovery container's image tag; else its version labels (helm.sh/chart: istiod-1.24.0). */
export function istiodVersionOf(d: KObject): DeploymentVersion {
  const image = containerImage(d, 'discovery');
  const base = {
    namespace: d.metadata.namespace ?? ISTIO_NAMESPACE,
    name: d.metadata.name,
    revision: d.metadata.labels?.['istio.io/rev'] ?? 'default',
    ...(image ? { image } : {}),
  };
  const fromImage = versionOfTag(imageTag(image));
  if (fromImage) return { ...base, version: fromImage, source: 'image' };
  for (const key of ISTIOD_VERSION_LABELS) {
    const raw = d.metadata.labels?.[key] ?? (d.spec as any)?.template?.metadata?.labels?.[key];
    const v = versionOfTag(key === 'helm.sh/chart' ? raw?.replace(/^istiod-/, '') : raw);
    if (v) return { ...base, version: v, source: `label ${key}` };
  }
  return base;
}

/** CoreDNS's version: the coredns container's image tag (registry.k8s.io/coredns/coredns:v1.11.3 -> v1.11.3). */
export function corednsVersionOf(d: KObject): DeploymentVersion {
  const image = containerImage(d, 'coredns');
  const version = versionOfTag(imageTag(image));
  return {
    namespace: d.metadata.namespace ?? DEFAULT_DNS_NAMESPACE,
    name: d.metadata.name,
    ...(image ? { image } : {}),
    ...(version ? { version, source: 'image' } : {}),
  };
}

/** The warning when the installed acmg is not this client's version (undefined when they match or nothing is installed). */
export function versionSkew(client: string, installed: InstalledAcmg): string | undefined {
  if (!installed.installed || !installed.version || installed.version === client) return undefined;
  return `the installed acmg is ${installed.version} (namespace ${installed.namespace}), this client is ${client}`;
}

/**
 * A part the API server answered with an error (403, a refused or unreadable state) is that part's
 * error; the API server not answering at all is everybody's, and is thrown.
 */
function partError(e: unknown): string {
  if (e instanceof ApiError) return (explainApiError(e) as AcmgError).message;
  if (e instanceof AcmgError && e.code === ExitCode.Usage) return e.message;
  throw e;
}

/** The installed acmg, and the namespace of cluster DNS its install record names (else kube-system). */
async function readAcmg(kube: KubeApi, namespace?: string): Promise<{ acmg: InstalledAcmg; dnsNamespace: string }> {
  try {
    const { namespace: ns, state } = await locateState(kube, namespace);
    const i = state.install;
    if (!i) return { acmg: { installed: false, namespace: ns }, dnsNamespace: DEFAULT_DNS_NAMESPACE };
    return {
      acmg: {
        installed: true,
        namespace: ns,
        version: i.version,
        profile: i.profile,
        revision: i.values.revision || 'default',
        ...(i.inProgress ? { inProgress: true } : {}),
      },
      dnsNamespace: i.values.dns?.namespace ?? DEFAULT_DNS_NAMESPACE,
    };
  } catch (e) {
    return { acmg: { installed: false, namespace: namespace ?? DEFAULT_INSTALL_NAMESPACE, error: partError(e) }, dnsNamespace: DEFAULT_DNS_NAMESPACE };
  }
}

async function readIstiod(kube: KubeApi): Promise<ComponentRead> {
  const namespace = ISTIO_NAMESPACE;
  try {
    const items = (await kube.list('apps/v1', 'Deployment', { namespace, labelSelector: 'app=istiod' })).items;
    return { namespace, deployments: items.map(istiodVersionOf).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
  } catch (e) {
    return { namespace, deployments: [], error: partError(e) };
  }
}

async function readCoredns(kube: KubeApi, namespace: string): Promise<ComponentRead> {
  try {
    const d = await corednsDeployment(kube, { namespace });
    return { namespace, deployments: d ? [corednsVersionOf(d)] : [] };
  } catch (e) {
    return { namespace, deployments: [], error: partError(e) };
  }
}

/** Everything `acmg version` reads from the cluster. Throws only when the API server cannot be reached or refuses /version. */
export async function readServerVersions(kube: KubeApi, opts: { namespace?: string } = {}): Promise<ServerVersions> {
  // /version first: the one answer every later read needs the cluster for.
  const kubernetes = await kube.serverVersion();
  const { acmg, dnsNamespace } = await readAcmg(kube, opts.namespace);
  const [istiod, coredns] = await Promise.all([readIstiod(kube), readCoredns(kube, dnsNamespace)]);
  return { kubernetes: { gitVersion: kubernetes.gitVersion, major: kubernetes.major, minor: kubernetes.minor }, acmg, istiod, coredns };
}
