// acmg migrate, mesh security: the Istio policies whose meaning the move changes. A migrated
// namespace is relabelled istio-injection=disabled, so its pods lose their sidecars (at once with
// --restart, else as pods are replaced), and calls to its services arrive from the gateway.
// - AuthorizationPolicy and RequestAuthentication selecting a migrated service's pods are enforced
//   by those sidecars: once they go, nothing enforces them (fail-open); until then the calls they
//   see come from the gateway, so `source.principals` / `source.namespaces` match the gateway.
// - PeerAuthentication STRICT on services still in the mesh: a pod without a sidecar cannot present
//   mTLS, so the migrated namespace's own calls to them are refused.
// Each is named in the plan; migrate refuses unless the user accepts (--accept-policy-changes).
import type { KObject } from '../model/object.js';

export const SECURITY_VERSION = 'security.istio.io/v1';

export interface MigratingService {
  namespace: string;
  service: string;
  /** The Service's selector: its pods are those whose labels include it. */
  selector: Record<string, string>;
}

export interface PolicyInput {
  services: MigratingService[];
  /** Pod labels by namespace, for the migrating namespaces. */
  pods: ReadonlyMap<string, Record<string, string>[]>;
  /** Policies of the migrating namespaces, and every PeerAuthentication (any namespace). */
  policies: KObject[];
  /** Istio's root namespace: a policy there without a selector applies mesh-wide. */
  rootNamespace: string;
  /** The gateway's identity, as the migrated services' sidecars see it until they go. */
  gatewayPrincipal: string;
}

const includes = (labels: Record<string, string>, want: Record<string, string>) => Object.entries(want).every(([k, v]) => labels[k] === v);

/** The migrating services whose pods a workload policy (AuthorizationPolicy, RequestAuthentication) selects. */
function selected(p: KObject, i: PolicyInput): MigratingService[] {
  const ns = p.metadata.namespace ?? '';
  // targetRef(s) bind a policy to a waypoint or a gateway, not to the workloads' sidecars.
  if (p.spec?.targetRef || p.spec?.targetRefs?.length) return [];
  const match: Record<string, string> | undefined = p.spec?.selector?.matchLabels;
  // A policy in the root namespace applies in every namespace (to the workloads its selector picks).
  const meshWide = ns === i.rootNamespace;
  return i.services.filter((s) => {
    if (!meshWide && s.namespace !== ns) return false;
    const pods = (i.pods.get(s.namespace) ?? []).filter((l) => includes(l, s.selector));
    return !match || pods.some((l) => includes(l, match));
  });
}

const usesSource = (p: KObject) =>
  (p.spec?.rules ?? []).some((r: any) =>
    (r.from ?? []).some((f: any) => ['principals', 'notPrincipals', 'namespaces', 'notNamespaces'].some((k) => f.source?.[k] !== undefined)),
  );

const isStrict = (p: KObject) => p.spec?.mtls?.mode === 'STRICT' || Object.values(p.spec?.portLevelMtls ?? {}).some((m: any) => m?.mode === 'STRICT');

/** Every policy whose meaning the move changes, and how, one line each (sorted). */
export function policyChanges(i: PolicyInput): string[] {
  const out: string[] = [];
  const migratingNs = [...new Set(i.services.map((s) => s.namespace))].sort();
  const names = (ss: MigratingService[]) => ss.map((s) => `${s.namespace}/${s.service}`).join(', ');
  for (const p of i.policies) {
    const id = `${p.kind} ${p.metadata.namespace}/${p.metadata.name}`;
    if (p.kind === 'AuthorizationPolicy') {
      const hit = selected(p, i);
      if (!hit.length) continue;
      const action = p.spec?.action ?? 'ALLOW';
      const meanwhile = usesSource(p)
        ? `; until then its from.source rules see every call coming from the gateway (${i.gatewayPrincipal})${action === 'ALLOW' ? ', so calls it allowed are denied' : ''}`
        : '';
      out.push(
        `${id} (${action}) applies to the pods of ${names(hit)} at their sidecars, which the move removes: it will no longer be enforced (${action === 'DENY' ? 'what it denied is allowed' : action === 'CUSTOM' ? 'its external authorization is skipped' : 'what it did not allow is allowed'})${meanwhile}`,
      );
    } else if (p.kind === 'RequestAuthentication') {
      const hit = selected(p, i);
      if (!hit.length) continue;
      out.push(`${id} validates JWTs at the sidecars of ${names(hit)}, which the move removes: their requests will no longer be validated`);
    } else if (p.kind === 'PeerAuthentication' && isStrict(p)) {
      const ns = p.metadata.namespace ?? '';
      // The migrating namespaces' own STRICT policies stop mattering with their sidecars.
      if (migratingNs.includes(ns)) continue;
      const scope =
        ns === i.rootNamespace && !p.spec?.selector ? 'every namespace in the mesh' : `${p.spec?.selector ? 'workloads selected in' : 'namespace'} ${ns}`;
      out.push(
        `${id} requires mTLS (STRICT) for ${scope}: the pods of ${migratingNs.join(', ')}, without sidecars, cannot present it, so their own calls to services there will be refused`,
      );
    }
  }
  return [...new Set(out)].sort();
}
