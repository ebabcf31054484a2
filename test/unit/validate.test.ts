import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AcmgError, ExitCode } from '../../src/errors.js';
import { resolveValues } from '../../src/profile/load.js';

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

  test('all problems are reported at once', () => {
    expect(problems({ sets: ['gateway.replicas=-1', 'gateway.name=X', 'dns.ttl=true'] })).toHaveLength(3);
  });

  test('cross-field rules: duplicate ports, status port collision, HPA bounds, PDB vs replicas', () => {
    const p = problems({
      sets: ['gateway.ports=[]', 'gateway.ports[0].name=a', 'gateway.ports[0].port=80', 'gateway.ports[0].protocol=HTTP', 'gateway.ports[1].name=a', 'gateway.ports[1].port=15021', 'gateway.ports[1].protocol=TCP'],
    });
    expect(p).toEqual(['gateway.ports[1].name: "a" is already used by gateway.ports[0]', 'gateway.ports[1].port: 15021 collides with gateway.statusPort']);
    expect(problems({ profile: 'ha', sets: ['gateway.autoscaling.minReplicas=9', 'gateway.autoscaling.maxReplicas=3'] })[0]).toMatch(/minReplicas \(9\) is greater than maxReplicas \(3\)/);
    expect(problems({ profile: 'acmg', sets: ['gateway.replicas=1'] })[0]).toMatch(/minAvailable \(1\) must be below gateway.replicas \(1\)/);
  });

  test('what Istio would reject: a Gateway with no servers or no hosts', () => {
    expect(problems({ profile: 'minimal', sets: ['gateway.ports=[]'] })).toEqual([expect.stringMatching(/^gateway.ports: empty, but the Istio Gateway needs at least one server/)]);
    expect(problems({ profile: 'minimal', sets: ['istioGateway.hosts=[]'] })).toEqual([expect.stringMatching(/^istioGateway.hosts: empty, but every Istio Gateway server needs a host/)]);
    // Without the Istio Gateway there is nothing for Istio to reject.
    expect(resolveValues({ profile: 'minimal', sets: ['gateway.ports=[]', 'istioGateway.enabled=false'] }).spec.gateway.ports).toEqual([]);
  });

  test('null in an overlay cannot delete a required value silently', () => {
    expect(problems({ files: [file('null.yaml', 'spec:\n  gateway:\n    image: null\n')] })).toEqual(['gateway.image: missing (it has no default; was it set to null by an overlay?)']);
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
