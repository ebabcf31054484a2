// Keeps the gateway Service and the Istio Gateway listening on exactly the profile's ports plus
// the ports of migrated services, as recorded in acmg's state. Converges under concurrent runs:
// after applying, it re-reads the state and applies again if another run changed it meanwhile.
import { AcmgError, ExitCode } from '../errors.js';
import type { KubeApi } from '../kube/api.js';
import { readStateVersioned, stateFingerprint } from '../kube/state.js';
import type { InstallRecord } from '../model/state.js';
import type { GatewayPort } from '../profile/schema.js';
import { renderManifests } from '../render/index.js';
import { VERSION } from '../version.js';
import { withEffectivePorts } from './gateway-ports.js';

/** The gateway Service's ClusterIP, the address migrated names resolve to (exit 3 if it has none). */
export async function gatewayClusterIP(kube: KubeApi, install: InstallRecord): Promise<string> {
  const ns = install.values.namespace;
  const svc = await kube.get('v1', 'Service', install.values.gateway.name, ns);
  const ip: string | undefined = svc?.spec?.clusterIP;
  if (!ip || ip === 'None')
    throw new AcmgError(ExitCode.Cluster, `the gateway Service ${ns}/${install.values.gateway.name} has no ClusterIP`, 'check it with: acmg status');
  return ip;
}

/** Applies the merged ports and returns them (as applied in the final, stable round). */
export async function syncGatewayPorts(kube: KubeApi, install: InstallRecord): Promise<GatewayPort[]> {
  const ns = install.values.namespace;
  let ports: GatewayPort[] = [];
  for (let i = 0; i < 20; i++) {
    const { state, fingerprint: before } = await readStateVersioned(kube, ns);
    const spec = withEffectivePorts(install.values, state);
    ports = spec.gateway.ports;
    const objs = renderManifests(
      { apiVersion: 'acmg.io/v1alpha1', kind: 'AcmgOperator', metadata: {}, spec },
      { clusterDomain: install.clusterDomain, version: VERSION },
    );
    for (const o of objs) {
      if ((o.kind === 'Service' && o.metadata.name === spec.gateway.name) || o.kind === 'Gateway') await kube.apply(o);
    }
    if ((await stateFingerprint(kube, ns)) === before) break;
  }
  return ports;
}

/** Waits until the gateway Service has ready endpoints serving every named port. */
export async function waitForGatewayEndpoints(kube: KubeApi, install: InstallRecord, portNames: string[], timeoutMs: number): Promise<void> {
  const ns = install.values.namespace;
  const svc = install.values.gateway.name;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const slices = (await kube.list('discovery.k8s.io/v1', 'EndpointSlice', { namespace: ns, labelSelector: `kubernetes.io/service-name=${svc}` })).items;
    const ready = slices.filter((s) => (s.endpoints ?? []).some((e: any) => e.conditions?.ready !== false));
    const names = new Set(ready.flatMap((s) => (s.ports ?? []).map((p: any) => p.name)));
    const missing = portNames.filter((n) => !names.has(n));
    if (missing.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`the gateway Service ${ns}/${svc} has no ready endpoints for port(s) ${missing.join(', ')} after ${Math.round(timeoutMs / 1000)}s`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
