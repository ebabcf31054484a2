export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

/** A Kubernetes object as acmg renders and applies it. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}

export interface RenderContext {
  /** The cluster's DNS domain (resolved from the cluster when installing, cluster.local offline). */
  clusterDomain: string;
  /** acmg's version, stamped on every object. */
  version: string;
  /** false where the cluster's Corefile has no reload plugin: the controller must restart CoreDNS. */
  dnsReloads?: boolean;
}
