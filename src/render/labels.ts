// Labels that make every acmg object findable (uninstall --purge, status) across versions.
export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'acmg';
export const COMPONENT = 'app.kubernetes.io/component';
export const PART_OF = 'app.kubernetes.io/part-of';
export const VERSION_LABEL = 'acmg.io/version';
export const MANAGED_SELECTOR = `${MANAGED_BY}=${MANAGED_BY_VALUE}`;

/** Whether acmg made this object (its managed-by label). */
export const isAcmgObject = (o: { metadata: { labels?: Record<string, string> } }): boolean => o.metadata.labels?.[MANAGED_BY] === MANAGED_BY_VALUE;

export type Component =
  'gateway' | 'istio-gateway' | 'namespace-gateway' | 'controller' | 'dns' | 'state' | 'state-shard' | 'declarative-status' | 'route' | 'replacement-service';

export function acmgLabels(component: Component, version: string): Record<string, string> {
  return {
    [MANAGED_BY]: MANAGED_BY_VALUE,
    [COMPONENT]: component,
    [PART_OF]: 'acmg',
    [VERSION_LABEL]: version,
  };
}
