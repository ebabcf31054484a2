// Precheck of the Istio that acmg builds on: istiod's version against the gateway proxy's, the
// sidecar injector for the gateway's revision, and whether istiod's webhooks answer. Webhooks are
// asked by server-side dry runs: nothing is written, but the API server calls them as for real.
import { permissionDenied, permissionHint, type ApiError, type KubeApi } from '../kube/api.js';
import type { KObject } from '../model/object.js';
import type { Spec } from '../profile/schema.js';

import type { CheckResult } from '../model/check.js';

export interface IstioVersion {
  major: number;
  minor: number;
  raw: string;
}

/** The version in an Istio image reference (docker.io/istio/pilot:1.31.2-distroless -> 1.31), if it has one. */
export function versionOfImage(image: string | undefined): IstioVersion | undefined {
  const tag = image?.match(/:([^:/@]+)$/)?.[1];
  const m = tag?.match(/^v?(\d+)\.(\d+)(?:[.-]|$)/);
  return m ? { major: Number(m[1]), minor: Number(m[2]), raw: tag! } : undefined;
}

/**
 * Istio supports proxies at most one minor version older than istiod, never newer
 * (https://istio.io/latest/docs/releases/supported-releases/#control-planedata-plane-and-istioctl-version-skew).
 */
export function judgeSkew(istiod: IstioVersion, proxy: IstioVersion): { status: CheckResult['status']; detail: string } {
  const detail = `istiod ${istiod.raw}, gateway proxy ${proxy.raw}`;
  if (proxy.major !== istiod.major || proxy.minor > istiod.minor) return { status: 'fail', detail: `${detail}: the proxy is newer than istiod` };
  if (istiod.minor - proxy.minor > 1) return { status: 'warn', detail: `${detail}: the proxy is more than one minor version behind` };
  return { status: 'ok', detail };
}

/** The revision label value Istio uses for a revision ("" is the default revision). */
export const revisionLabel = (revision: string) => revision || 'default';

/** The revision an Istio object belongs to (unlabelled: the default revision). */
const revisionOf = (o: KObject) => o.metadata.labels?.['istio.io/rev'] ?? 'default';

/** Names of the injector webhooks that serve a revision, from the cluster's MutatingWebhookConfigurations. */
export function injectorWebhooks(configs: KObject[], revision: string): string[] {
  const rev = revisionLabel(revision);
  return configs
    .filter((c) => revisionOf(c) === rev)
    .flatMap((c) => ((c as any).webhooks ?? []) as { name: string }[])
    .map((w) => w.name)
    .filter((n) => n.endsWith('sidecar-injector.istio.io'))
    .sort();
}

const istiodImage = (d: KObject): string | undefined => {
  const cs: { name: string; image?: string }[] = (d.spec as any)?.template?.spec?.containers ?? [];
  return (cs.find((c) => c.name === 'discovery') ?? cs[0])?.image;
};

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** An object Istio's validation must reject: a Gateway without servers (istiod checks its own webhook with it). */
const INVALID_PROBE = (namespace: string): KObject => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'Gateway',
  metadata: { name: 'acmg-precheck-invalid', namespace },
  spec: {},
});

/** A pod like the gateway Deployment's, for a server-side dry run through the injector. */
export function gatewayProbePod(s: Spec, deployment: KObject): KObject {
  const template = (deployment.spec as any).template;
  // Without serviceAccountName: install creates that account, and the injector does not look at it.
  const { serviceAccountName, ...podSpec } = template.spec;
  void serviceAccountName;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...template.metadata, generateName: `${s.gateway.name}-precheck-`, namespace: s.namespace },
    spec: podSpec,
  };
}

/** A 403 is a permission to ask for, whatever the check would otherwise suspect. */
const hintFor = (e: unknown, otherwise: string) => (permissionDenied(e) ? permissionHint(e as ApiError) : otherwise);

/** `namespaceExists` undefined: precheck could not read the install namespace. */
export async function istioChecks(kube: KubeApi, s: Spec, rendered: KObject[], namespaceExists: boolean | undefined): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const rev = revisionLabel(s.revision);
  const istiods = (await kube.list('apps/v1', 'Deployment', { namespace: 'istio-system', labelSelector: 'app=istiod' })).items.filter(
    (d) => revisionOf(d) === rev,
  );
  if (!istiods.length) {
    out.push({
      category: 'istio',
      check: `istiod (revision ${rev}) is installed`,
      status: 'warn',
      detail: `no Deployment labelled app=istiod, istio.io/rev=${rev} in istio-system`,
      hint: 'the gateway proxy gets its configuration from istiod; install or start it before migrating services, or set revision to the one installed',
    });
  } else {
    out.push({
      category: 'istio',
      check: `istiod (revision ${rev}) is installed`,
      status: 'ok',
      detail: istiods.map((d) => `${d.metadata.name} (${istiodImage(d) ?? 'no image'})`).join(', '),
    });
  }
  const istiodVersion = istiods.map(istiodImage).map(versionOfImage).find(Boolean);

  // The injector: without it an injected gateway pod is never created.
  let hooks: string[] = [];
  let listError: string | undefined;
  try {
    hooks = injectorWebhooks((await kube.list('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration')).items, s.revision);
  } catch (e) {
    listError = errorText(e);
  }
  if (s.gateway.enabled && s.gateway.injection) {
    out.push(
      listError
        ? {
            category: 'istio',
            check: `sidecar injector (revision ${rev}) is configured`,
            status: 'warn',
            detail: `could not list MutatingWebhookConfigurations: ${listError}`,
            hint: 'grant list on mutatingwebhookconfigurations.admissionregistration.k8s.io to check it',
          }
        : hooks.length
          ? { category: 'istio', check: `sidecar injector (revision ${rev}) is configured`, status: 'ok', detail: hooks.join(', ') }
          : {
              category: 'istio',
              check: `sidecar injector (revision ${rev}) is configured`,
              status: 'fail',
              detail: `no injector webhook for revision ${rev}`,
              hint: 'the gateway uses gateway injection (image "auto"); install istiod with its injector, set revision to an installed one, or set gateway.injection=false to pin gateway.image',
            },
    );
  }

  // The gateway's own pod, as the injector would return it (only where its namespace exists).
  const deployment = rendered.find((o) => o.kind === 'Deployment' && o.metadata.name === s.gateway.name);
  let proxyVersion = s.gateway.injection ? undefined : versionOfImage(`${s.gateway.image.hub}/${s.gateway.image.name}:${s.gateway.image.tag}`);
  const dryRun = 'the injector answers and injects the gateway';
  const dryRunSkipped = !(hooks.length || listError)
    ? `skipped: needs sidecar injector (revision ${rev}) is configured`
    : namespaceExists === undefined
      ? `skipped: needs namespace ${s.namespace} exists`
      : !namespaceExists
        ? `skipped: needs namespace ${s.namespace}, which install creates (the gateway's rollout then shows whether it is injected)`
        : undefined;
  if (s.gateway.enabled && s.gateway.injection && deployment && dryRunSkipped) {
    out.push({ category: 'istio', check: dryRun, status: 'skipped', detail: dryRunSkipped });
  } else if (s.gateway.enabled && s.gateway.injection && deployment) {
    const probe = gatewayProbePod(s, deployment);
    try {
      const pod = await kube.create<any>(probe, { dryRun: true });
      const proxy = (pod.spec?.containers ?? []).find((c: { name: string }) => c.name === 'istio-proxy');
      const injected = proxy && proxy.image !== 'auto';
      proxyVersion = versionOfImage(proxy?.image);
      out.push(
        injected
          ? { category: 'istio', check: 'the injector answers and injects the gateway', status: 'ok', detail: `proxy image ${proxy.image}` }
          : {
              category: 'istio',
              check: 'the injector answers and injects the gateway',
              status: 'fail',
              detail: `a gateway pod in ${s.namespace} is not injected (its image stays "auto")`,
              hint: `check the labels of namespace ${s.namespace} (istio-injection=disabled blocks injection) and the injector's selectors`,
            },
      );
    } catch (e) {
      const msg = errorText(e);
      out.push({
        category: 'istio',
        check: 'the injector answers and injects the gateway',
        status: 'fail',
        detail: msg,
        hint: /denied the request/.test(msg)
          ? 'the injector refused the gateway pod for the reason above: fix gateway.podAnnotations / gateway.podLabels, or set gateway.injection=false'
          : hintFor(e, "the API server cannot call istiod's injection webhook: check that istiod is running and its Service has endpoints"),
      });
    }
  }
  if (s.gateway.enabled && istiodVersion && proxyVersion) {
    const j = judgeSkew(istiodVersion, proxyVersion);
    out.push({
      category: 'istio',
      check: 'gateway proxy version is supported by istiod',
      status: j.status,
      detail: j.detail,
      ...(j.status === 'ok'
        ? {}
        : {
            hint: s.gateway.injection
              ? 'the injector picks the proxy image: check its values (global.hub, global.tag)'
              : "set gateway.image.tag to istiod's version, or use gateway.injection=true so the proxy follows istiod",
          }),
    });
  }

  // Validation: a dry run of an invalid Gateway must be refused by istiod's webhook.
  try {
    await kube.create(INVALID_PROBE(namespaceExists ? s.namespace : 'default'), { dryRun: true });
    out.push({
      category: 'istio',
      check: 'Istio config validation answers',
      status: 'warn',
      detail: 'a Gateway without servers was accepted: no validating webhook checks unlabelled Istio objects in this cluster',
      hint: "mistakes in Istio objects then show only in istiod's logs; install istiod with its validation webhook and a default revision (istioctl tag set default)",
    });
  } catch (e) {
    const msg = errorText(e);
    out.push(
      /denied the request/.test(msg)
        ? { category: 'istio', check: 'Istio config validation answers', status: 'ok', detail: "istiod's validating webhook rejects invalid objects" }
        : {
            category: 'istio',
            check: 'Istio config validation answers',
            status: 'fail',
            detail: msg,
            hint: hintFor(e, "the API server cannot call istiod's validating webhook: check that istiod is running and reachable"),
          },
    );
  }
  return out;
}
