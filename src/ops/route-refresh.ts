// Keeps the routes of the other migrated services of a namespace right when a run changes which of
// its Services are replaced (approach 2): a carried rule of reviews that sends to reviews-v2 must go
// to reviews-v2's replacement once migrate replaces it, and back to reviews-v2 once rollback
// restores it, before the Service it named goes. The same judgement as acmg sync's route following
// (plan/route-follow.ts), on fresh lists of the namespaces' routing objects.
import { listPagesIfServed, type KubeApi } from '../kube/api.js';
import type { KObject } from '../model/object.js';
import type { InstallRecord, MigrationRecord, State } from '../model/state.js';
import { planRouteFollow, retargetRoute } from '../plan/route-follow.js';
import { isAcmgObject } from '../render/labels.js';
import { replacementName } from '../render/routes.js';
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
 * `restored`: the migrations ("ns/service") of approach 2 a rollback is undoing, whose Services come
 * back. A route held as it is (its user's rules changed into ones the gateway cannot hold) is not
 * rendered again, but its destinations still follow a Service replaced or restored here: it would
 * otherwise send to a Service about to be deleted. Returns what it wrote ("Kind ns/name").
 */
export async function refreshNamespaceRoutes(
  kube: KubeApi,
  install: InstallRecord,
  state: Pick<State, 'listeners'>,
  migrations: MigrationRecord[],
  namespaces: string[],
  restored: string[] = [],
): Promise<string[]> {
  const here = migrations.filter((m) => namespaces.includes(m.namespace));
  const restoredHere = restored.filter((k) => namespaces.includes(k.split('/')[0]!));
  // Only where approach 2 is in play: nothing else changes a route's destinations.
  if ((!here.some((m) => m.approach === 'replace-service') && restoredHere.length === 0) || !here.some((m) => m.phase === 'complete')) return [];
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
  const suffix = install.values.migration.replacementSuffix;
  const held = new Set(plan.held.map((h) => h.id));
  for (const m of here.filter((x) => held.has(`${x.namespace}/${x.service}`))) {
    // Replaced (as the state will be) -> the replacement; restored -> the original.
    const renames: Record<string, string> = {};
    for (const r of here)
      if (r.namespace === m.namespace && r.service !== m.service && r.approach === 'replace-service' && r.phase !== 'rolling-back')
        renames[r.service] = replacementName(r.service, suffix);
    for (const k of restoredHere) {
      const [n, service] = k.split('/') as [string, string];
      if (n === m.namespace && service !== m.service) renames[replacementName(service, suffix)] = service;
    }
    const own = [...lists.virtualServices, ...lists.httpRoutes, ...lists.tcpRoutes].filter(
      (o) => isAcmgObject(o) && o.metadata.namespace === m.namespace && o.metadata.labels?.['acmg.io/service'] === m.service && o.kind !== 'DestinationRule',
    );
    for (const o of own) {
      const moved = retargetRoute(o, renames, install.clusterDomain);
      if (moved) plan.apply.push(moved);
    }
  }
  for (const o of plan.apply) await kube.apply(o);
  return plan.apply.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`);
}
