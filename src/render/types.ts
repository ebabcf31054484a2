/** The CoreDNS Deployment's name where none is found or told (kubeadm, kind, EKS, AKS, k3s, minikube). */
export const DEFAULT_COREDNS_DEPLOYMENT = 'coredns';

export interface RenderContext {
  /** The cluster's DNS domain (resolved from the cluster when installing, cluster.local offline). */
  clusterDomain: string;
  /** acmg's version, stamped on every object. */
  version: string;
  /** false where the cluster's Corefile has no reload plugin: the controller must restart CoreDNS. */
  dnsReloads?: boolean;
  /**
   * true where acmg writes an imported file (coredns-custom) that CoreDNS reloads: the controller asks
   * a CoreDNS pod (port-forward) whether a write took effect, and repairs one CoreDNS missed.
   */
  dnsCanMissReload?: boolean;
  /**
   * The name of the CoreDNS Deployment the controller may restart (where dnsReloads is false or
   * dnsCanMissReload): found by install as the restart finds it (corednsDeployment), told to
   * manifest generate (--coredns-deployment). Absent: DEFAULT_COREDNS_DEPLOYMENT.
   */
  corednsDeployment?: string;
}
