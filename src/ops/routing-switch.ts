// Moving an install whose services are migrated from one routing API to the other, in place (issue
// #24): `acmg install --set routing.api=gateway-api` (or back to istio). Every migrated name keeps
// answering the same address (the doors' Services stay as they are, so DNS is not written) and is
// routed throughout: the new API's routes and door Gateways are written first, then the old API's
// door Gateways go, then its routes.
//
// Istio facts this relies on: while both Gateways of a door exist, istiod merges their servers on
// the door's listener port into one route table, appending the routes of a host heard twice
// (pilot/pkg/networking/core/gateway.go, vHostDedupMap), so a call matches one of the two APIs'
// routes, which send it to the same backends. Strict gateway merging (Istio 1.31) only sets managed
// Gateway API gateways apart; acmg's are manual (an address of type Hostname).
//
// Refused, before anything is written (the install's precheck fails, exit 1): a migration not
// settled (in progress or rolling back); a user's rule the new API's route would not carry (a
// VirtualService for the mesh with the Gateway API, an HTTPRoute with Istio's), beyond what was
// accepted at migrate; a route the API server refuses (a dry run); a user's route bound to acmg's
// shared gateway of the old API, which the switch removes.
import { ApiError, listPagesIfServed, type KubeApi } from '../kube/api.js';
import type { KObject } from '../model/object.js';
import type { InstallRecord, MigrationRecord, ObjectRef, State } from '../model/state.js';
import { planRouteFollow } from '../plan/route-follow.js';
import { boundToGateway, routeBoundToGateway } from '../plan/sync.js';
import type { Spec } from '../profile/schema.js';
import { routingApiOf, type RoutingApi } from '../render/gateway-api.js';
import { routeId } from '../render/gateway-api-routes.js';
import { isAcmgObject } from '../render/labels.js';
import { VERSION } from '../version.js';
import { forEachBounded } from './bounded.js';
import { doorGateways, removeDoorGateways, syncGatewayPorts } from './gateway-sync.js';
import { acmgRoutesOf, listRoutes } from './route-lists.js';
import { routingLists } from './route-refresh.js';

export interface RoutingSwitchPlan {
  from: RoutingApi;
  to: RoutingApi;
  /** The migrated services whose routes move ("ns/service"). */
  services: string[];
  /** acmg's routes in the new API (and approach 2's DestinationRule copies where they change). */
  apply: KObject[];
  /** acmg's objects of the old API to delete once the new ones and the doors are in place. */
  remove: ObjectRef[];
  /** Why the switch cannot be made now; empty when it can. */
  problems: string[];
}

const idOf = (m: Pick<MigrationRecord, 'namespace' | 'service'>) => `${m.namespace}/${m.service}`;

const otherApi = (api: RoutingApi): RoutingApi => (api === 'istio' ? 'gateway-api' : 'istio');

/**
 * The switch to `spec`'s API for the migrations in `state`; undefined where there is nothing to
 * switch. Judged by what is live as well as by the record: an install interrupted during a switch
 * has recorded the new API already, and the other API's routes and door Gateways it left are what
 * says the switch is not finished (the install run again finishes it).
 */
export async function planRoutingSwitch(kube: KubeApi, state: State, spec: Spec): Promise<RoutingSwitchPlan | undefined> {
  const install = state.install;
  const migrations = Object.values(state.migrations).sort((a, b) => idOf(a).localeCompare(idOf(b)));
  if (!install) return undefined;
  const to = routingApiOf(spec);
  const from = otherApi(to);
  // The old API's routes and door Gateways acmg wrote, wherever they are (a rollback after an
  // interrupted switch leaves them too: install run again removes them).
  const left = await acmgRoutesOf(kube, from);
  const leftDoors = await doorGateways(kube, install.values.namespace, from);
  const moving = routingApiOf(install.values) !== to && migrations.length > 0;
  if (!moving && left.length === 0 && leftDoors.length === 0) return undefined;
  const plan: RoutingSwitchPlan = { from, to, services: migrations.map(idOf), apply: [], remove: [], problems: [] };
  const settled = migrations.filter((m) => m.phase === 'complete');

  for (const m of migrations.filter((x) => x.phase !== 'complete'))
    plan.problems.push(
      `${idOf(m)} is ${m.phase === 'rolling-back' ? 'being rolled back' : 'being migrated'}: finish it first (acmg rollback ${m.service} -n ${m.namespace}, or acmg migrate ${m.service} -n ${m.namespace} again)`,
    );

  // What the old API's shared gateway carries of the user's: the switch would remove it.
  if (install.values.istioGateway.enabled) {
    const gw = { namespace: install.values.namespace, name: install.values.istioGateway.name };
    const bound: string[] = [];
    if (from === 'istio') {
      await listPagesIfServed(kube, 'networking.istio.io/v1', 'VirtualService', {}, (vs) => {
        if (!isAcmgObject(vs) && boundToGateway(vs, gw)) bound.push(routeId(vs));
      });
    } else {
      const routes = await listRoutes(kube, from, {});
      for (const r of [...routes.HTTPRoute, ...routes.GRPCRoute, ...routes.TCPRoute, ...routes.TLSRoute])
        if (!isAcmgObject(r) && routeBoundToGateway(r, gw)) bound.push(routeId(r));
    }
    for (const b of bound.sort())
      plan.problems.push(
        `${b} is bound to acmg's shared ${from === 'istio' ? 'Istio' : 'Gateway API'} Gateway ${gw.namespace}/${gw.name}, which the switch to ${to} replaces: move it to ${to === 'istio' ? 'a VirtualService with gateways ' + `${gw.namespace}/${gw.name}` : `an HTTPRoute with parentRefs ${gw.namespace}/${gw.name}`} after the switch, or set istioGateway.enabled=false if nothing needs it`,
      );
  }

  // acmg's routes as the new API renders them from the user's rules as they are now.
  const namespaces = [...new Set(settled.map((m) => m.namespace))].sort();
  const follow = planRouteFollow({
    migrations,
    listeners: state.listeners ?? {},
    clusterDomain: install.clusterDomain,
    installNamespace: install.values.namespace,
    replacementSuffix: install.values.migration.replacementSuffix,
    version: VERSION,
    api: to,
    ...(await routingLists(kube, to, namespaces)),
  });
  for (const h of follow.held)
    for (const reason of h.reasons)
      plan.problems.push(
        `${h.id}: with routing.api ${to}, ${reason} (change that rule first, or roll ${h.id} back, switch, and migrate it again with --accept-rule-changes)`,
      );
  plan.apply = follow.apply;

  // Each new object as the API server would take it (the CRDs' limits, a kind it does not serve).
  await forEachBounded(plan.apply, async (o) => {
    try {
      await kube.apply(o, { dryRun: true });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (e.status === 404)
        plan.problems.push(
          `the API server does not serve ${o.apiVersion} ${o.kind}, which ${routeId(o)} needs (install the Gateway API CRDs, experimental channel for TCPRoute)`,
        );
      else if (e.status === 400 || e.status === 422) plan.problems.push(`${routeId(o)}, in ${to} form, is refused by the API server: ${e.message}`);
      else throw e;
    }
  });
  plan.problems.sort();

  plan.remove = [...left, ...follow.delete.map((d) => ({ apiVersion: d.apiVersion, kind: d.kind, name: d.name, namespace: d.namespace }))];
  return plan;
}

/** What the plan prints, one line per step. */
export function describeRoutingSwitch(p: RoutingSwitchPlan): string[] {
  return [
    `switch the routes of ${p.services.length} migrated service(s) from ${p.from} to ${p.to}, in place (their names keep the same door address):`,
    `  write ${p.apply.length} ${p.to} object(s): ${p.apply.map(routeId).join(', ') || '-'}`,
    `  open every door as a ${p.to === 'istio' ? 'Istio' : 'Gateway API'} Gateway, then remove its ${p.from === 'istio' ? 'Istio' : 'Gateway API'} Gateway`,
    `  remove ${p.remove.length} ${p.from} object(s): ${p.remove.map((r) => `${r.kind} ${r.namespace}/${r.name}`).join(', ') || '-'}`,
  ];
}

/**
 * Makes the switch, each step idempotent (install run again after an interruption finishes it):
 * `install` is the record as it will be (the new API).
 */
export async function applyRoutingSwitch(
  kube: KubeApi,
  plan: RoutingSwitchPlan,
  install: InstallRecord,
  task: <T>(title: string, fn: () => Promise<T>) => Promise<T>,
): Promise<void> {
  await task(`write the ${plan.to} routes of ${plan.services.length} migrated service(s)`, () => forEachBounded(plan.apply, (o) => kube.apply(o)));
  await task(`open the doors as ${plan.to === 'istio' ? 'Istio' : 'Gateway API'} Gateways`, () => syncGatewayPorts(kube, install));
  await task(`remove the doors' ${plan.from === 'istio' ? 'Istio' : 'Gateway API'} Gateways`, () =>
    removeDoorGateways(kube, install.values.namespace, plan.from),
  );
  await task(`remove the ${plan.from} routes`, () => forEachBounded(plan.remove, (r) => kube.delete(r.apiVersion, r.kind, r.name, r.namespace)));
}
