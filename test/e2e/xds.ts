// What istiod tells the acmg gateway, read with hack/xds-probe (a raw ADS stream as the gateway
// pod's proxy would open it). The gateway pods are simulated (kwok) and run no Envoy, so this is
// where the routes acmg's Gateway and VirtualServices produce become visible.
import { execFileSync } from 'node:child_process';
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

/** The listeners and routes istiod gives one running gateway pod (the first, by name). */
export function gatewayConfig(namespace = 'istio-system', app = 'acmg-gateway'): GatewayConfig {
  const pods = kubectlJson(['-n', namespace, 'get', 'pods', '-l', `app=${app}`, '--field-selector', 'status.phase=Running'])
    .items.filter((p: any) => p.status?.podIP && !p.metadata.deletionTimestamp)
    .sort((a: any, b: any) => a.metadata.name.localeCompare(b.metadata.name));
  if (!pods.length) throw new Error(`no running ${app} pod in ${namespace}`);
  const pod = pods[0];
  const labels = Object.entries(pod.metadata.labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const out = execFileSync(
    xdsProbeBin,
    [
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
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
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
