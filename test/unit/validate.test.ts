import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AcmgError, ExitCode } from '../../src/errors.js';
import { loadProfile, resolveValues } from '../../src/profile/load.js';
import { toYaml } from '../../src/render/serialize.js';

function problems(req: Parameters<typeof resolveValues>[0]): string[] {
  try {
    resolveValues(req);
  } catch (e) {
    expect(e).toBeInstanceOf(AcmgError);
    expect((e as AcmgError).code).toBe(ExitCode.Usage);
    return (e as AcmgError).problems;
  }
  throw new Error('expected a validation error');
}

const tmp = mkdtempSync(join(tmpdir(), 'acmg-validate-'));
const file = (name: string, text: string) => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};

describe('bad input is reported with the path, the bad value and a way to fix it', () => {
  test('unknown profile suggests the closest', () => {
    expect(problems({ profile: 'hq' })).toEqual(['unknown profile "hq" (did you mean "ha"?)']);
  });

  test('unknown field suggests the closest valid path', () => {
    expect(problems({ sets: ['gateway.replicaz=3'] })).toEqual(['gateway.replicaz: unknown field (did you mean "gateway.replicas"?)']);
  });

  test('unknown field with no close match lists the valid fields', () => {
    expect(problems({ sets: ['gateway.zzzzzzzzzzzz=1'] })[0]).toMatch(/valid fields here: .*replicas/);
  });

  test('wrong type', () => {
    expect(problems({ sets: ['gateway.replicas=abc'] })).toEqual(['gateway.replicas: expected a whole number, got string "abc"']);
    expect(problems({ sets: ['gateway.enabled=yes'] })).toEqual(['gateway.enabled: expected true or false, got string "yes"']);
    expect(problems({ sets: ['gateway.image.tag=1.5'] })[0]).toContain('quote it: "1.5"');
  });

  test('port out of range', () => {
    expect(problems({ sets: ['gateway.ports[0].port=70000'] })).toEqual(['gateway.ports[0].port: 70000 is out of range (1..65535)']);
    expect(problems({ sets: ['gateway.statusPort=0'] })).toEqual(['gateway.statusPort: 0 is out of range (1..65535)']);
  });

  test('names that are not DNS-1123 labels', () => {
    expect(problems({ sets: ['gateway.name=Bad_Name'] })[0]).toMatch(/^gateway.name: "Bad_Name" is not a valid DNS-1123 label/);
    expect(problems({ sets: [`namespace=${'a'.repeat(64)}`] })[0]).toMatch(/not a valid DNS-1123 label/);
  });

  test('enum values suggest the closest', () => {
    expect(problems({ sets: ['dns.mode=corefil'] })).toEqual(['dns.mode: "corefil" is not one of auto, corefile, custom (did you mean "corefile"?)']);
  });

  test('the replacement suffix is never empty (the replacement would be the original Service, which approach 2 deletes)', () => {
    expect(problems({ profile: 'minimal', sets: ['migration.replacementSuffix='] })).toEqual([
      expect.stringMatching(/^migration\.replacementSuffix: "" must start with "-"/),
    ]);
    expect(resolveValues({ profile: 'minimal', sets: ['migration.replacementSuffix=-v2'] }).spec.migration.replacementSuffix).toBe('-v2');
  });

  test('all problems are reported at once', () => {
    expect(problems({ sets: ['gateway.replicas=-1', 'gateway.name=X', 'dns.ttl=true'] })).toHaveLength(3);
  });

  test('cross-field rules: duplicate ports, status port collision, HPA bounds, PDB vs replicas', () => {
    const p = problems({
      sets: [
        'gateway.ports=[]',
        'gateway.ports[0].name=a',
        'gateway.ports[0].port=80',
        'gateway.ports[0].protocol=HTTP',
        'gateway.ports[1].name=a',
        'gateway.ports[1].port=15021',
        'gateway.ports[1].protocol=TCP',
      ],
    });
    expect(p).toEqual(['gateway.ports[1].name: "a" is already used by gateway.ports[0]', 'gateway.ports[1].port: 15021 collides with gateway.statusPort']);
    expect(problems({ profile: 'ha', sets: ['gateway.autoscaling.minReplicas=9', 'gateway.autoscaling.maxReplicas=3'] })[0]).toMatch(
      /minReplicas \(9\) is greater than maxReplicas \(3\)/,
    );
    expect(problems({ profile: 'acmg', sets: ['gateway.replicas=1'] })[0]).toMatch(/minAvailable \(1\) must be below gateway.replicas \(1\)/);
  });

  test('what Istio would reject: a Gateway with no servers or no hosts', () => {
    expect(problems({ profile: 'minimal', sets: ['gateway.ports=[]'] })).toEqual([
      expect.stringMatching(/^gateway.ports: empty, but the Istio Gateway needs at least one server/),
    ]);
    expect(problems({ profile: 'minimal', sets: ['istioGateway.hosts=[]'] })).toEqual([
      expect.stringMatching(/^istioGateway.hosts: empty, but every Istio Gateway server needs a host/),
    ]);
    // Without the Istio Gateway there is nothing for Istio to reject.
    expect(resolveValues({ profile: 'minimal', sets: ['gateway.ports=[]', 'istioGateway.enabled=false'] }).spec.gateway.ports).toEqual([]);
  });

  test('null in an overlay cannot delete a required value silently', () => {
    expect(problems({ files: [file('null.yaml', 'spec:\n  gateway:\n    image: null\n')] })).toEqual([
      'gateway.image: missing (it has no default; was it set to null by an overlay?)',
    ]);
  });

  test('malformed overlay files: YAML errors with line numbers, wrong kinds, several documents, missing files', () => {
    expect(problems({ files: [file('bad.yaml', 'spec:\n  gateway: [\n')] })[0]).toMatch(/is not valid YAML at line 3/);
    expect(problems({ files: [file('kind.yaml', 'kind: Deployment\nspec: {}\n')] })[0]).toMatch(/kind is "Deployment"; expected AcmgOperator/);
    expect(problems({ files: [file('two.yaml', 'a: 1\n---\nb: 2\n')] })[0]).toMatch(/has 2 YAML documents/);
    expect(problems({ files: [file('list.yaml', '- a\n')] })[0]).toMatch(/must be a YAML mapping/);
    expect(problems({ files: [join(tmp, 'missing.yaml')] })[0]).toMatch(/cannot read overlay file .*no such file/);
  });

  test('an overlay can choose the profile; --profile overrides it', () => {
    const f = file('p.yaml', 'spec:\n  profile: ha\n');
    expect(resolveValues({ files: [f] }).spec.profile).toBe('ha');
    expect(resolveValues({ files: [f], profile: 'minimal' }).spec.profile).toBe('minimal');
  });
});

// Issue #13 item 4: each of these rendered objects the API server or Istio refuses, with exit 0.
describe('values that would render objects Kubernetes or Istio refuse', () => {
  test.each([
    [['gateway.podLabels.bad key!=x'], /gateway\.podLabels: key "bad key!" is not a valid label or annotation key/],
    [[`gateway.podLabels.team=${'v'.repeat(70)}`], /gateway\.podLabels\.team: "v{20,}… is not a valid label value/],
    [['gateway.placement.nodeSelector.disk=fast ssd'], /gateway\.placement\.nodeSelector\.disk: "fast ssd" is not a valid label value/],
    [['gateway.podAnnotations./x=1'], /key "\/x" has a prefix that is not a DNS subdomain/],
    [['revision=Bad!'], /revision: "Bad!" is not a valid Istio revision/],
    [['gateway.image.hub='], /gateway\.image\.hub: must not be empty/],
    [['gateway.image.tag='], /gateway\.image\.tag: must not be empty/],
    [['gateway.image.hub=Docker.io/Istio'], /gateway\.image\.hub: "Docker.io\/Istio" is not a valid image registry/],
    [['gateway.ports[0].targetPort=15021'], /target port 15021 is gateway\.statusPort/],
    [['gateway.ports[0].targetPort=15090'], /target port 15090 is reserved by the Istio proxy/],
    [
      ['gateway.ports[1].name=grpc', 'gateway.ports[1].port=81', 'gateway.ports[1].targetPort=8080', 'gateway.ports[1].protocol=GRPC'],
      /target port 8080 is already the target of gateway\.ports\[0\]/,
    ],
    [['gateway.ports[0].name=a-very-long-port-name'], /"a-very-long-port-name" is not a valid port name/],
    [['gateway.ports[0].name=status-port'], /"status-port" is the name of the gateway's status port/],
    [
      [
        'gateway.autoscaling.enabled=true',
        'gateway.podDisruptionBudget.enabled=true',
        'gateway.podDisruptionBudget.minAvailable=2',
        'gateway.autoscaling.minReplicas=2',
      ],
      /minAvailable \(2\) must be below gateway\.autoscaling\.minReplicas \(2\)/,
    ],
    [['gateway.resources.requests.cpu="3"'], /gateway\.resources\.requests\.cpu: 3 is more than the limit 2/],
    [['gateway.placement.tolerations=[x]'], /tolerations\[0\]: expected a toleration object/],
    [['istioGateway.hosts=[Foo!]'], /istioGateway\.hosts\[0\]: "Foo!" is not a valid Gateway host/],
    [['controller.resyncPeriod=often'], /controller\.resyncPeriod: "often" is not a duration/],
  ])('--set %j', (sets, message) => {
    expect(problems({ profile: 'acmg', sets }).join('\n')).toMatch(message);
  });

  test('tolerations are checked as the API server checks them', () => {
    const tol = (t: string) =>
      problems({ profile: 'acmg', files: [file(`tol-${Math.random()}.yaml`, `gateway:\n  placement:\n    tolerations: [${t}]\n`)] }).join('\n');
    expect(tol('{ key: "", operator: Equal, value: x }')).toMatch(/an empty key needs operator Exists/);
    expect(tol('{ key: a, operator: Exists, value: x }')).toMatch(/value must be empty when operator is Exists/);
    expect(tol('{ key: a, effect: NoSchedule, tolerationSeconds: 5 }')).toMatch(/tolerationSeconds needs effect NoExecute/);
    expect(tol('{ key: a, effect: Sometimes }')).toMatch(/effect must be NoSchedule, PreferNoSchedule or NoExecute/);
    expect(tol('{ key: a, colour: red }')).toMatch(/unknown toleration field "colour"/);
    expect(resolveValues({ profile: 'ha' }).spec.gateway.placement.tolerations).toHaveLength(1); // ha's own is valid
  });

  test('valid values of the same kinds pass', () => {
    const doc = resolveValues({
      profile: 'acmg',
      sets: [
        'gateway.podLabels.example\\.com/team=payments',
        'gateway.podAnnotations.example\\.com/note=any text: at all',
        'revision=canary',
        'istioGateway.hosts=[*, shop/*.example.com, ./reviews.shop.svc.cluster.local]',
        'gateway.image.hub=localhost:5000/istio',
      ],
    });
    expect(doc.spec.gateway.podLabels).toEqual({ 'example.com/team': 'payments' });
    expect(doc.spec.revision).toBe('canary');
  });

  test('gateway.replicas with the autoscaler on: valid, but a warning says it does nothing', () => {
    const warnings: string[] = [];
    resolveValues({ profile: 'ha', sets: ['gateway.replicas=4'], onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([
      expect.stringMatching(/gateway\.replicas \(4\) has no effect while gateway\.autoscaling\.enabled is true.*set gateway\.autoscaling\.minReplicas instead/),
    ]);
    const none: string[] = [];
    resolveValues({ profile: 'acmg', sets: ['gateway.replicas=4'], onWarning: (m) => none.push(m) });
    expect(none).toEqual([]);
  });

  test("the ha profile dumped and fed back with -f: no warning about the profile's own gateway.replicas", () => {
    const dir = mkdtempSync(join(tmpdir(), 'acmg-ha-dump-'));
    const file = join(dir, 'ha.yaml');
    writeFileSync(file, toYaml(loadProfile('ha')));
    const warnings: string[] = [];
    resolveValues({ files: [file], onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
  });
});
