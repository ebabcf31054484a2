// Picks how acmg asks cluster DNS: --nameserver HOST:PORT directly, else through the API server's
// port-forward to a CoreDNS pod (works from a CI runner with only a kubeconfig).
import { usageError } from '../errors.js';
import { parseHostPort } from '../dns/client.js';
import { directResolver, type Resolver } from '../dns/resolver.js';
import type { Kube } from '../kube/client.js';

export async function resolverFor(kube: Kube, opts: { nameserver?: string; dnsNamespace?: string; timeoutMs?: number }): Promise<Resolver> {
  if (opts.nameserver) {
    let hp: { host: string; port: number };
    try {
      hp = parseHostPort(opts.nameserver);
    } catch (e) {
      throw usageError(`invalid --nameserver: ${(e as Error).message}`);
    }
    return directResolver(hp.host, hp.port, opts.timeoutMs);
  }
  const { portForwardResolver } = await import('../kube/port-forward.js');
  return portForwardResolver(kube, opts.dnsNamespace ?? 'kube-system', opts.timeoutMs);
}
