import { Kube } from '../kube/client.js';
import { parseDuration } from '../input/duration.js';

/** The global flags that say how to reach the cluster. */
export interface ConnectFlags {
  kubeconfig?: string;
  context?: string;
  requestTimeout?: string;
}

/** kubectl's forms: 0 (no limit), a bare number of seconds, or a duration such as 10s or 1m. */
export function parseRequestTimeout(value: string): number {
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  return parseDuration(value, '--request-timeout');
}

/** Connects with the global flags (client-node loads lazily, only here); `debug` gets -v output. */
export async function connect(g: ConnectFlags, debug?: (msg: string) => void): Promise<Kube> {
  return Kube.connect({ kubeconfig: g.kubeconfig, context: g.context, requestTimeoutMs: parseRequestTimeout(g.requestTimeout ?? '30s'), debug });
}
