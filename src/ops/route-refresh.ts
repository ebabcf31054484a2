// Keeps the routes of the other migrated services of a namespace right when a run changes which of
// its Services are replaced (approach 2): a carried rule of reviews that sends to reviews-v2 must go
// to reviews-v2's replacement once migrate replaces it, and back to reviews-v2 once rollback
// restores it, before the Service it named goes. The same judgement as acmg sync's route following
// (plan/route-follow.ts), on fresh lists of the namespaces' routing objects.
import { listPagesIfServed, type KubeApi } from '../kube/api.js';
import type { KObject } from '../model/object.js';
import type { InstallRecord, MigrationRecord, State } from '../model/state.js';
import { planRouteFollow } from '../plan/route-follow.js';
import { routingApiOf, type RoutingApi } from '../render/gateway-api.js';
import { listRoutes } from './route-lists.js';
import { VERSION } from '../version.js';

/** Every object of a kind in a namespace; none where its CRD is not installed. */
async function listAll(kube: KubeApi, apiVersion: string, kind: string, namespace: string): Promise<KObject[]> {
  const out: KObject[] = [];
  await listPagesIfServed(kube, apiVersion, kind, { namespace }, (o) => void out.push(o));
  return out;
}

/** What route following renders from, for `namespaces`: their routing objects, of the kinds `api` reads. */
export async function routingLists(kube: KubeApi, api: RoutingApi, namespaces: string[]) {
  const lists = {
    virtualServices: [] as KObject[],
    destinationRules: [] as KObject[],
    httpRoutes: [] as KObject[],
    tcpRoutes: [] as KObject[],
    uncarriedRoutes: [] as KObject[],
  };
  for (const n of [...namespaces].sort()) {
    lists.virtualServices.push(...(await listAll(kube, 'networking.istio.io/v1', 'VirtualService', n)));
    lists.destinationRules.push(...(await listAll(kube, 'networking.istio.io/v1', 'DestinationRule', n)));
    // The same kinds as sync's (a carried GRPCRoute's rules are rendered again, a refused kind keeps the route as it is).
    const routes = await listRoutes(kube, api, { namespace: n });
    lists.httpRoutes.push(...routes.HTTPRoute);
    lists.tcpRoutes.push(...routes.TCPRoute);
    lists.uncarriedRoutes.push(...routes.TCPRoute, ...routes.GRPCRoute, ...routes.TLSRoute);
  }
  return lists;
}

/**
 * Rewrites acmg's routes of the settled migrations in `namespaces` where the records `migrations`
 * (the state as it will be: a rollback leaves out what it undoes) render them differently.
 * Returns what it wrote ("Kind ns/name").
 */
export async function refreshNamespaceRoutes(
  kube: KubeApi,
  install: InstallRecord,
  state: Pick<State, 'listeners'>,
  migrations: MigrationRecord[],
  namespaces: string[],
): Promise<string[]> {
  const here = migrations.filter((m) => namespaces.includes(m.namespace));
  // Only where approach 2 is in play: nothing else changes a route's destinations.
  if (!here.some((m) => m.approach === 'replace-service') || !here.some((m) => m.phase === 'complete')) return [];
  const api = routingApiOf(install.values);
  const lists = await routingLists(kube, api, [...new Set(here.map((m) => m.namespace))]);
  const plan = planRouteFollow({
    migrations: here,
    listeners: state.listeners ?? {},
    clusterDomain: install.clusterDomain,
    installNamespace: install.values.namespace,
    replacementSuffix: install.values.migration.replacementSuffix,
    version: VERSION,
    api,
    ...lists,
  });
  for (const o of plan.apply) await kube.apply(o);
  return plan.apply.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`);
}
