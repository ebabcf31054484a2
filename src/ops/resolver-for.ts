// Picks how acmg asks cluster DNS: --nameserver HOST:PORT directly, else through the API server's
// port-forward to a CoreDNS pod (works from a CI runner with only a kubeconfig).
import { directResolver, type Resolver } from '../dns/resolver.js';
import type { Kube } from '../kube/client.js';

/** `nameserver` as parsed by the CLI before connecting (cli/preflight.ts parseNameserver). */
export async function resolverFor(
  kube: Kube,
  opts: { nameserver?: { host: string; port: number }; dnsNamespace?: string; timeoutMs?: number },
): Promise<Resolver> {
  if (opts.nameserver) return directResolver(opts.nameserver.host, opts.nameserver.port, opts.timeoutMs);
  const { portForwardResolver } = await import('../kube/port-forward.js');
  return portForwardResolver(kube, opts.dnsNamespace ?? 'kube-system', opts.timeoutMs);
}
