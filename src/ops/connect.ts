import type { GlobalOptions } from '../cli/common.js';
import { Kube } from '../kube/client.js';
import { parseDuration } from '../ui/duration.js';

/** kubectl's forms: 0 (no limit), a bare number of seconds, or a duration such as 10s or 1m. */
export function parseRequestTimeout(value: string): number {
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  return parseDuration(value, '--request-timeout');
}

/** Connects with the global --kubeconfig/--context flags (client-node loads lazily, only here). */
export async function connect(g: GlobalOptions): Promise<Kube> {
  return Kube.connect({ kubeconfig: g.kubeconfig, context: g.context, requestTimeoutMs: parseRequestTimeout(g.requestTimeout ?? '30s') });
}
