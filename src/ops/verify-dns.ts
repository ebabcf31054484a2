// acmg verify-dns, the I/O part: which services to check (acmg's state), and asking DNS.
import { AcmgError, ExitCode, usageError } from '../errors.js';
import { DnsTimeoutError } from '../dns/client.js';
import { DNS_CONCURRENCY, type Resolver } from '../dns/resolver.js';
import type { KubeApi } from '../kube/api.js';
import { locateState } from '../kube/state.js';
import { doorAddresses } from './gateway-sync.js';
import { namespaceGatewayName } from '../render/namespace-gateway.js';
import { judge, lookupsFor, type Answer, type Lookup, type VerifyResult, type VerifyTarget } from '../plan/verify.js';

export interface VerifySelection {
  services: string[];
  namespace?: string;
  allNamespaces?: boolean;
}

export async function verifyTargets(kube: KubeApi, sel: VerifySelection): Promise<{ targets: VerifyTarget[]; domain: string; dnsNamespace: string }> {
  const { state: st } = await locateState(kube);
  if (!st.install) throw usageError('acmg is not installed in this cluster: there is nothing to verify', 'run acmg install and acmg migrate first');
  const i = st.install;
  // A migrated name must answer its namespace's door on the gateway; without a door, nothing can be right.
  const doors = await doorAddresses(kube, i);
  const doorOf = (n: string) => doors.get(n) ?? `the address of ${i.values.namespace}/${namespaceGatewayName(n)}, which does not exist`;
  const migrations = Object.values(st.migrations).filter((m) => m.phase === 'complete' || m.journal.includes('dns'));
  const targets: VerifyTarget[] = [];
  if (sel.services.length) {
    const n = sel.namespace ?? 'default';
    const problems: string[] = [];
    for (const name of sel.services) {
      const m = migrations.find((x) => x.namespace === n && x.service === name);
      if (m) {
        targets.push({ namespace: n, service: name, migrated: true, expected: doorOf(n) });
        continue;
      }
      const svc = await kube.get('v1', 'Service', name, n);
      if (!svc) problems.push(`service "${name}" not found in namespace "${n}" (and acmg has not migrated it)`);
      else if (!svc.spec?.clusterIP || svc.spec.clusterIP === 'None') problems.push(`service ${n}/${name} is headless: it has no ClusterIP to verify`);
      else targets.push({ namespace: n, service: name, migrated: false, expected: svc.spec.clusterIP });
    }
    if (problems.length) throw usageError(problems);
  } else {
    for (const m of migrations) {
      if (sel.namespace && !sel.allNamespaces && m.namespace !== sel.namespace) continue;
      targets.push({ namespace: m.namespace, service: m.service, migrated: true, expected: doorOf(m.namespace) });
    }
  }
  targets.sort((a, b) => `${a.namespace}/${a.service}`.localeCompare(`${b.namespace}/${b.service}`));
  return { targets, domain: i.clusterDomain, dnsNamespace: i.values.dns.namespace };
}

type Ask = (name: string, type: 'A' | 'AAAA') => Promise<Answer>;

/**
 * Each distinct question asked once in a run: the lookups of one service share most of their
 * candidates (the FQDN ends every search path), so 8 questions a service become 5, and every
 * lookup is judged on the same answer a pod would get for that question.
 */
function askOnce(r: Resolver): Ask {
  const asked = new Map<string, Promise<Answer>>();
  return (name, type) => {
    const key = `${type} ${name.toLowerCase()}`;
    let a = asked.get(key);
    if (!a) {
      a = r.ask(name, type).then((res) => ({
        question: name,
        rcode: res.rcode,
        names: res.answers.filter((x) => x.type === type).map((x) => x.name),
        ips: res.answers.filter((x) => x.type === type).map((x) => x.data),
      }));
      asked.set(key, a);
    }
    return a;
  };
}

/** Runs one lookup like a stub resolver: candidates in order until one is not NXDOMAIN. */
async function runLookup(ask: Ask, l: Lookup): Promise<VerifyResult> {
  const answers: Answer[] = [];
  for (const c of l.candidates) {
    const a = await ask(c, 'A');
    answers.push(a);
    if (a.rcode !== 'NXDOMAIN') break;
  }
  const hit = answers.find((a) => a.rcode !== 'NXDOMAIN');
  const aaaa = hit && l.form === 'fqdn' ? await ask(hit.question, 'AAAA') : undefined;
  return judge(l, answers, aaaa);
}

/** Runs every lookup with bounded concurrency. A nameserver that does not answer is exit 3. */
export async function runVerification(r: Resolver, targets: VerifyTarget[], domain: string, concurrency = DNS_CONCURRENCY): Promise<VerifyResult[]> {
  const lookups = targets.flatMap((t) => lookupsFor(t, domain));
  const ask = askOnce(r);
  const results: VerifyResult[] = new Array(lookups.length);
  let next = 0;
  const worker = async () => {
    while (next < lookups.length) {
      const i = next++;
      try {
        results[i] = await runLookup(ask, lookups[i]!);
      } catch (e) {
        if (e instanceof DnsTimeoutError)
          throw new AcmgError(ExitCode.Cluster, `cannot reach the nameserver: ${e.message}`, 'check --nameserver, or that CoreDNS is running');
        throw e instanceof AcmgError ? e : new AcmgError(ExitCode.Cluster, `DNS query failed via ${r.describe}: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, lookups.length) }, worker));
  return results;
}
