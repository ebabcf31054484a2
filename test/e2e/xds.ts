// What istiod tells the acmg gateway, read with hack/xds-probe (a raw ADS stream as the gateway
// pod's proxy would open it). The gateway pods are simulated (kwok) and run no Envoy, so this is
// where the routes acmg's Gateway and VirtualServices produce become visible.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { istioRelease, istiodXdsPort, kubectlJson, xdsProbeBin } from './cluster.js';

export interface VirtualHost {
  name: string;
  domains: string[];
  routes: { name?: string; match: string; clusters: string[]; directResponse?: number }[];
}
export interface GatewayConfig {
  listeners: { name: string; port: number; routeNames: string[] }[];
  routes: { name: string; virtualHosts: VirtualHost[] }[];
}

/** The running gateway pods, by name. */
const gatewayPods = (namespace: string, app: string): any[] => {
  const pods = kubectlJson(['-n', namespace, 'get', 'pods', '-l', `app=${app}`, '--field-selector', 'status.phase=Running'])
    .items.filter((p: any) => p.status?.podIP && !p.metadata.deletionTimestamp)
    .sort((a: any, b: any) => a.metadata.name.localeCompare(b.metadata.name));
  if (!pods.length) throw new Error(`no running ${app} pod in ${namespace}`);
  return pods;
};

/** xds-probe's arguments to speak as a gateway pod's proxy. */
const probeArgs = (pod: any, namespace: string): string[] => {
  const labels = Object.entries(pod.metadata.labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return [
    '--addr',
    `127.0.0.1:${istiodXdsPort}`,
    '--pod',
    pod.metadata.name,
    '--namespace',
    namespace,
    '--ip',
    pod.status.podIP,
    '--labels',
    labels,
    '--service-account',
    pod.spec.serviceAccountName ?? 'default',
    '--istio-version',
    istioRelease,
    '--timeout',
    '20s',
  ];
};

/**
 * Connects to istiod as every running gateway pod's proxy and stays connected (xds-probe --hold),
 * as the pods' Envoys would on a real cluster, so istiod's debug endpoints serve their
 * configuration (what acmg verify-routes reads). Returns once each has had its first answer.
 */
export async function holdGatewayProxies(namespace = 'istio-system', app = 'acmg-gateway'): Promise<{ stop: () => void }> {
  const children: ChildProcess[] = [];
  const stop = () => children.forEach((c) => c.kill());
  try {
    for (const pod of gatewayPods(namespace, app)) {
      const child = spawn(xdsProbeBin, ['--hold', ...probeArgs(pod, namespace)], { stdio: ['pipe', 'pipe', 'pipe'] });
      children.push(child);
      await new Promise<void>((resolve, reject) => {
        let out = '';
        let err = '';
        child.stdout!.on('data', (d) => {
          out += d;
          if (out.trimEnd().endsWith('}')) resolve();
        });
        child.stderr!.on('data', (d) => (err += d));
        child.once('exit', (code) => reject(new Error(`xds-probe --hold for ${pod.metadata.name} exited ${code}: ${err}`)));
      });
    }
  } catch (e) {
    stop();
    throw e;
  }
  return { stop };
}

/** The listeners and routes istiod gives one running gateway pod (the first, by name). */
export function gatewayConfig(namespace = 'istio-system', app = 'acmg-gateway'): GatewayConfig {
  const pod = gatewayPods(namespace, app)[0];
  const out = execFileSync(xdsProbeBin, probeArgs(pod, namespace), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out) as GatewayConfig;
}

/** The virtual hosts of the gateway's route configuration for one port. */
export function virtualHostsOnPort(cfg: GatewayConfig, port: number): VirtualHost[] {
  return cfg.routes.find((r) => r.name === `http.${port}`)?.virtualHosts ?? [];
}

/** Every domain on a port, mapped to the clusters its routes send to. */
export function routesByDomain(cfg: GatewayConfig, port: number): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const vh of virtualHostsOnPort(cfg, port)) for (const d of vh.domains) out[d] = [...new Set(vh.routes.flatMap((r) => r.clusters))].sort();
  return out;
}
