import type { GlobalOptions } from '../cli/common.js';
import { Kube } from '../kube/client.js';

/** Connects with the global --kubeconfig/--context flags (client-node loads lazily, only here). */
export async function connect(g: GlobalOptions): Promise<Kube> {
  return Kube.connect({ kubeconfig: g.kubeconfig, context: g.context });
}
