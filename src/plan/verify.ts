// verify-dns, the pure parts: which questions to ask for each service (the FQDN and the short forms
// a pod uses through its search path), how to judge the answers, and the JUnit report.
import { junitReport } from './junit.js';

export interface VerifyTarget {
  namespace: string;
  service: string;
  migrated: boolean;
  /** The gateway ClusterIP for migrated services, the service's own ClusterIP otherwise. */
  expected: string;
}

export type Form = 'fqdn' | 'short, same namespace' | 'name.namespace, other namespace' | 'name.namespace.svc';

export interface Lookup {
  target: VerifyTarget;
  form: Form;
  /** The name as the client writes it. */
  written: string;
  /** The names a stub resolver (ndots:5) tries, in order, for a client in `clientNamespace`. */
  candidates: string[];
}

/** A namespace that surely has no such service, to stand for "a pod in another namespace". */
export const OTHER_NAMESPACE = 'acmg-verify-elsewhere';

export function searchCandidates(written: string, clientNamespace: string, domain: string): string[] {
  if (written.endsWith('.')) return [written.slice(0, -1)];
  const dots = written.split('.').length - 1;
  const search = [`${clientNamespace}.svc.${domain}`, `svc.${domain}`, domain].map((s) => `${written}.${s}`);
  // ndots:5 (Kubernetes default): fewer dots -> search list first, then the name as is.
  return dots >= 5 ? [written, ...search] : [...search, written];
}

export function lookupsFor(t: VerifyTarget, domain: string): Lookup[] {
  const fqdn = `${t.service}.${t.namespace}.svc.${domain}`;
  const other = t.namespace === OTHER_NAMESPACE ? 'default' : OTHER_NAMESPACE;
  return [
    { target: t, form: 'fqdn', written: `${fqdn}.`, candidates: [fqdn] },
    { target: t, form: 'short, same namespace', written: t.service, candidates: searchCandidates(t.service, t.namespace, domain) },
    {
      target: t,
      form: 'name.namespace, other namespace',
      written: `${t.service}.${t.namespace}`,
      candidates: searchCandidates(`${t.service}.${t.namespace}`, other, domain),
    },
    {
      target: t,
      form: 'name.namespace.svc',
      written: `${t.service}.${t.namespace}.svc`,
      candidates: searchCandidates(`${t.service}.${t.namespace}.svc`, other, domain),
    },
  ];
}

export interface Answer {
  question: string;
  rcode: string;
  names: string[];
  ips: string[];
}

export interface VerifyResult {
  namespace: string;
  service: string;
  migrated: boolean;
  form: Form;
  written: string;
  /** The name that answered (after the search path). */
  answeredBy?: string;
  expected: string;
  got: string[];
  aaaaRcode?: string;
  pass: boolean;
  why: string;
}

/** Judges one lookup from the answers to its candidates (in order) and the AAAA answer for the winner. */
export function judge(l: Lookup, answers: Answer[], aaaa?: Answer): VerifyResult {
  const base = {
    namespace: l.target.namespace,
    service: l.target.service,
    migrated: l.target.migrated,
    form: l.form,
    written: l.written,
    expected: l.target.expected,
  };
  // A stub resolver stops at the first candidate that is not NXDOMAIN (NODATA also stops it).
  const hit = answers.find((a) => a.rcode !== 'NXDOMAIN');
  if (!hit) return { ...base, got: [], pass: false, why: `NXDOMAIN for every search candidate (${l.candidates.join(', ')})` };
  if (hit.rcode !== 'NOERROR') return { ...base, answeredBy: hit.question, got: [], pass: false, why: `${hit.rcode} for ${hit.question}` };
  const badName = hit.names.find((n) => n.toLowerCase().replace(/\.$/, '') !== hit.question.toLowerCase().replace(/\.$/, ''));
  if (badName)
    return {
      ...base,
      answeredBy: hit.question,
      got: hit.ips,
      pass: false,
      why: `answer owner name ${badName} does not match the question ${hit.question} (clients reject it)`,
    };
  if (hit.ips.length === 0) return { ...base, answeredBy: hit.question, got: [], pass: false, why: `no A record for ${hit.question}` };
  if (hit.ips.length !== 1 || hit.ips[0] !== l.target.expected) {
    const what = l.target.migrated ? 'the gateway' : "the service's own ClusterIP";
    return { ...base, answeredBy: hit.question, got: hit.ips, pass: false, why: `expected ${what} ${l.target.expected}, got ${hit.ips.join(', ')}` };
  }
  if (aaaa && aaaa.rcode !== 'NOERROR' && aaaa.rcode !== 'NXDOMAIN') {
    return {
      ...base,
      answeredBy: hit.question,
      got: hit.ips,
      aaaaRcode: aaaa.rcode,
      pass: false,
      why: `AAAA for ${hit.question} fails with ${aaaa.rcode} (clients asking for IPv6 get an error)`,
    };
  }
  return {
    ...base,
    answeredBy: hit.question,
    got: hit.ips,
    aaaaRcode: aaaa?.rcode,
    pass: true,
    why: l.target.migrated ? 'resolves to the gateway' : 'resolves to its own ClusterIP (not migrated)',
  };
}

export function toJUnit(results: VerifyResult[], seconds: number): string {
  return junitReport(
    'acmg verify-dns',
    results.map((r) => ({
      classname: `acmg.verify-dns.${r.namespace}.${r.service}`,
      name: `${r.written} (${r.form})`,
      ...(r.pass ? {} : { failure: { message: r.why, detail: `expected ${r.expected}, got ${r.got.join(', ') || 'nothing'}` } }),
    })),
    seconds,
  );
}
