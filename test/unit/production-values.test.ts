// #26 point 7: the values a shared gateway needs in production (zone spreading, priority class,
// image pull secrets, seccomp, trafficDistribution) and spec.patches, rendered (the e2e
// values-property and pod-security tests prove the cluster accepts what renders here).
import { runPrecheck } from '../../src/check/precheck.js';
import { AcmgError } from '../../src/errors.js';
import { ApiError, explainApiError, permissionDenied } from '../../src/kube/api.js';
import type { KObject } from '../../src/model/object.js';
import { applyJsonPatch, JsonPatchError } from '../../src/profile/json-patch.js';
import { resolveValues } from '../../src/profile/load.js';
import { renderManifests } from '../../src/render/index.js';
import { MemoryKube } from './memory-kube.js';

const render = (set: string[], profile = 'acmg') =>
  renderManifests(resolveValues({ profile, sets: ['dns.mode=corefile', ...set] }), { clusterDomain: 'cluster.local', version: '0.0.0-test' });
const find = (objs: KObject[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name)!;
const podSpec = (objs: KObject[], name: string) => (find(objs, 'Deployment', name).spec as any).template.spec;
const problemsOf = (f: () => unknown): string[] => {
  try {
    f();
  } catch (e) {
    if (e instanceof AcmgError) return e.problems;
    throw e;
  }
  throw new Error('expected a usage error');
};

describe('pod settings of the gateway and the controller', () => {
  test('by default both pods run with the RuntimeDefault seccomp profile (Pod Security "restricted")', () => {
    const objs = render(['controller.enabled=true']);
    expect(podSpec(objs, 'acmg-gateway').securityContext).toEqual({ seccompProfile: { type: 'RuntimeDefault' } });
    expect(podSpec(objs, 'acmg-controller').securityContext).toEqual({ seccompProfile: { type: 'RuntimeDefault' } });
  });

  test('the pinned proxy keeps its unprivileged-port sysctl beside the seccomp profile; none drops only the profile', () => {
    const sysctls = [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }];
    expect(podSpec(render(['gateway.injection=false']), 'acmg-gateway').securityContext).toEqual({ sysctls, seccompProfile: { type: 'RuntimeDefault' } });
    expect(podSpec(render(['gateway.injection=false', 'gateway.seccompProfile=none']), 'acmg-gateway').securityContext).toEqual({ sysctls });
    expect(podSpec(render(['gateway.seccompProfile=none']), 'acmg-gateway').securityContext).toBeUndefined();
  });

  test('priorityClassName and imagePullSecrets render on the pod they are set for, and nowhere when unset', () => {
    const objs = render([
      'controller.enabled=true',
      'gateway.priorityClassName=gateway-critical',
      'gateway.imagePullSecrets[0]=mirror',
      'gateway.imagePullSecrets[1]=backup',
      'controller.imagePullSecrets[0]=ghcr',
    ]);
    expect(podSpec(objs, 'acmg-gateway')).toMatchObject({ priorityClassName: 'gateway-critical', imagePullSecrets: [{ name: 'mirror' }, { name: 'backup' }] });
    expect(podSpec(objs, 'acmg-controller').imagePullSecrets).toEqual([{ name: 'ghcr' }]);
    expect(podSpec(objs, 'acmg-controller').priorityClassName).toBeUndefined();
    expect(podSpec(render([]), 'acmg-gateway')).not.toHaveProperty('imagePullSecrets');
  });

  test('zone spreading: preferred schedules anyway, required does not; counted per rollout, on the gateway pods only', () => {
    const spread = (mode: string) => podSpec(render([`gateway.placement.zoneSpread=${mode}`]), 'acmg-gateway').topologySpreadConstraints;
    expect(spread('none')).toBeUndefined();
    expect(spread('preferred')).toEqual([
      {
        maxSkew: 1,
        topologyKey: 'topology.kubernetes.io/zone',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: { app: 'acmg-gateway', istio: 'acmg-gateway' } },
        matchLabelKeys: ['pod-template-hash'],
      },
    ]);
    expect(spread('required')[0].whenUnsatisfiable).toBe('DoNotSchedule');
    expect(podSpec(render([], 'ha'), 'acmg-gateway').topologySpreadConstraints[0].whenUnsatisfiable).toBe('ScheduleAnyway');
  });

  test("the gateway Service's trafficDistribution, only when set", () => {
    expect((find(render(['gateway.service.trafficDistribution=PreferSameZone']), 'Service', 'acmg-gateway').spec as any).trafficDistribution).toBe(
      'PreferSameZone',
    );
    expect(find(render([]), 'Service', 'acmg-gateway').spec).not.toHaveProperty('trafficDistribution');
  });

  test('bad values are refused with the path and what is allowed', () => {
    expect(problemsOf(() => render(['gateway.priorityClassName=Critical_Class', 'gateway.service.trafficDistribution=Close']))).toEqual([
      'gateway.service.trafficDistribution: "Close" is not one of "" (none), PreferClose, PreferSameZone, PreferSameNode',
      'gateway.priorityClassName: "Critical_Class" is not a valid DNS-1123 subdomain: lowercase letters, digits, "-" and "."',
    ]);
  });

  test('an install record written before these values existed renders its pods as before', () => {
    const doc = resolveValues({ profile: 'acmg', sets: ['dns.mode=corefile', 'gateway.seccompProfile=none'] });
    const g = doc.spec.gateway as Partial<typeof doc.spec.gateway>;
    for (const k of ['priorityClassName', 'imagePullSecrets', 'seccompProfile'] as const) delete g[k];
    delete (g.placement as any).zoneSpread;
    delete (g.service as any).trafficDistribution;
    delete (doc.spec as any).patches;
    const objs = renderManifests(doc, { clusterDomain: 'cluster.local', version: '0.0.0-test' });
    expect(podSpec(objs, 'acmg-gateway')).not.toHaveProperty('securityContext');
    expect(podSpec(objs, 'acmg-gateway')).not.toHaveProperty('topologySpreadConstraints');
  });
});

describe('spec.patches', () => {
  const patch = (i: number, kind: string, name: string) => [`patches[${i}].kind=${kind}`, `patches[${i}].name=${name}`];

  test('a merge patch then a JSON patch apply to the object they name, and to nothing else', () => {
    const objs = render([
      ...patch(0, 'Deployment', 'acmg-gateway'),
      'patches[0].mergePatch.spec.minReadySeconds=10',
      'patches[0].mergePatch.spec.template.metadata.annotations.example\\.com/owner=net',
      'patches[0].jsonPatch[0].op=add',
      'patches[0].jsonPatch[0].path=/spec/template/spec/containers/0/env',
      'patches[0].jsonPatch[0].value[0].name=ISTIO_META_EXTRA',
      'patches[0].jsonPatch[0].value[0].value=on',
      'patches[0].jsonPatch[1].op=remove',
      'patches[0].jsonPatch[1].path=/spec/strategy',
    ]);
    const d = find(objs, 'Deployment', 'acmg-gateway').spec as any;
    expect(d.minReadySeconds).toBe(10);
    expect(d.template.metadata.annotations['example.com/owner']).toBe('net');
    expect(d.template.spec.containers[0].env).toEqual([{ name: 'ISTIO_META_EXTRA', value: 'on' }]);
    expect(d.strategy).toBeUndefined();
    expect(find(objs, 'Service', 'acmg-gateway')).toEqual(find(render([]), 'Service', 'acmg-gateway'));
  });

  test('a merge patch null deletes a field acmg renders', () => {
    const objs = render([...patch(0, 'Deployment', 'acmg-gateway'), 'patches[0].mergePatch.spec.template.spec.securityContext=null']);
    expect(podSpec(objs, 'acmg-gateway')).not.toHaveProperty('securityContext');
  });

  test('a patch of an object acmg does not render names the ones it does', () => {
    const [p] = problemsOf(() => render([...patch(0, 'Deployment', 'acmg-controller'), 'patches[0].mergePatch.spec.replicas=2']));
    expect(p).toMatch(/^patches\[0\] \(Deployment acmg-controller\): acmg renders no such object; it renders .*Deployment istio-system\/acmg-gateway/);
  });

  test('namespace: narrows the match; a patch naming the wrong one is refused', () => {
    const set = ['controller.enabled=true', ...patch(0, 'Role', 'acmg-controller'), 'patches[0].mergePatch.metadata.annotations.note=x'];
    expect(problemsOf(() => render([...set, 'patches[0].namespace=istio-system']))[0]).toMatch(
      /^patches\[0\] \(Role istio-system\/acmg-controller\): acmg renders no such object; .*Role kube-system\/acmg-controller/,
    );
    const objs = render([...set, 'patches[0].namespace=kube-system']);
    const roles = objs.filter((o) => o.kind === 'Role' && o.metadata.annotations?.note === 'x');
    expect(roles.map((r) => `${r.metadata.namespace}/${r.metadata.name}`)).toEqual(['kube-system/acmg-controller']);
  });

  test.each([
    ['metadata.name', ['patches[0].mergePatch.metadata.name=other']],
    ['metadata.namespace', ['patches[0].mergePatch.metadata.namespace=default']],
    ['kind', ['patches[0].jsonPatch[0].op=replace', 'patches[0].jsonPatch[0].path=/kind', 'patches[0].jsonPatch[0].value=Pod']],
    ['the managed-by label', ['patches[0].jsonPatch[0].op=remove', 'patches[0].jsonPatch[0].path=/metadata/labels/app.kubernetes.io~1managed-by']],
    ['the version label', ['patches[0].mergePatch.metadata.labels.acmg\\.io/version=9']],
  ])('a patch of %s is refused: uninstall and purge find objects by it', (_, set) => {
    expect(problemsOf(() => render([...patch(0, 'Service', 'acmg-gateway'), ...set]))[0]).toMatch(
      /^patches\[0\] \(Service acmg-gateway\): changes what acmg finds its objects by/,
    );
  });

  test('a JSON patch whose path does not resolve, or whose test fails, names the operation and the path', () => {
    const base = [...patch(0, 'Service', 'acmg-gateway')];
    expect(problemsOf(() => render([...base, 'patches[0].jsonPatch[0].op=remove', 'patches[0].jsonPatch[0].path=/spec/nope']))[0]).toBe(
      'patches[0] (Service acmg-gateway): jsonPatch operation 0 (remove /spec/nope): /spec/nope: not found (no "nope" there)',
    );
    expect(
      problemsOf(() =>
        render([...base, 'patches[0].jsonPatch[0].op=test', 'patches[0].jsonPatch[0].path=/spec/type', 'patches[0].jsonPatch[0].value=NodePort']),
      )[0],
    ).toBe('patches[0] (Service acmg-gateway): jsonPatch operation 0 (test /spec/type): /spec/type: test failed (the value there is "ClusterIP")');
  });

  test('malformed patches are refused before anything renders, each problem with its path (schema problems first)', () => {
    const malformed = [
      ...patch(0, 'Service', 'acmg-gateway'),
      ...patch(1, 'Service', 'acmg-gateway'),
      'patches[1].mergePatch=5',
      ...patch(2, 'Service', 'acmg-gateway'),
      'patches[2].jsonPatch[0].op=move',
      'patches[2].jsonPatch[0].path=spec/type',
      'patches[2].jsonPatch[1].op=add',
      'patches[2].jsonPatch[1].path=/a~2b',
    ];
    const problems = (sets: string[]) => problemsOf(() => resolveValues({ profile: 'acmg', sets }));
    expect(problems([...malformed, 'patches[2].jsonPatch[2].op=delete', 'patches[2].jsonPatch[2].path=/spec'])).toEqual([
      'patches[2].jsonPatch[2].op: "delete" is not one of add, remove, replace, move, copy, test',
    ]);
    expect(problems(malformed)).toEqual([
      'patches[0]: give a mergePatch or a jsonPatch (or both)',
      'patches[1].mergePatch: expected an object (the fields to merge into Service acmg-gateway), got number',
      'patches[2].jsonPatch[0].path: "spec/type" is not a JSON pointer: it must start with "/" (for example /spec/replicas)',
      'patches[2].jsonPatch[0].from: move needs the pointer it takes the value from',
      'patches[2].jsonPatch[1].path: "/a~2b" has a "~" not followed by 0 or 1 (write ~0 for "~" and ~1 for "/")',
      'patches[2].jsonPatch[1].value: add needs a value',
    ]);
  });

  test('a repeated image pull secret is refused (server-side apply keys the list by name)', () => {
    expect(problemsOf(() => resolveValues({ profile: 'acmg', sets: ['gateway.imagePullSecrets[0]=a', 'gateway.imagePullSecrets[1]=a'] }))).toEqual([
      'gateway.imagePullSecrets[1]: "a" is already gateway.imagePullSecrets[0]',
    ]);
  });
});

describe('RFC 6902 JSON patch', () => {
  const doc = { a: { 'b/c': 1, 'd~e': 2 }, l: [1, 2, 3] };
  test.each([
    [[{ op: 'add', path: '/l/-', value: 4 }], { a: doc.a, l: [1, 2, 3, 4] }],
    [[{ op: 'add', path: '/l/0', value: 0 }], { a: doc.a, l: [0, 1, 2, 3] }],
    [[{ op: 'remove', path: '/a/b~1c' }], { a: { 'd~e': 2 }, l: doc.l }],
    [[{ op: 'replace', path: '/a/d~0e', value: 9 }], { a: { 'b/c': 1, 'd~e': 9 }, l: doc.l }],
    [[{ op: 'move', from: '/l/0', path: '/first' }], { a: doc.a, l: [2, 3], first: 1 }],
    [[{ op: 'copy', from: '/a', path: '/b' }], { a: doc.a, l: doc.l, b: doc.a }],
    [[{ op: 'test', path: '/l', value: [1, 2, 3] }], doc],
  ])('%j', (ops, want) => {
    const before = structuredClone(doc);
    expect(applyJsonPatch(doc, ops as never)).toEqual(want);
    expect(doc).toEqual(before);
  });

  test.each([
    [{ op: 'remove', path: '/l/3' }, /no item "3" \(the list has 3\)/],
    [{ op: 'add', path: '/l/5', value: 1 }, /past the end of the list/],
    [{ op: 'add', path: '/x/y', value: 1 }, /\/x\/y: not found \(no "x" there\)/],
    [{ op: 'replace', path: '/l/01', value: 1 }, /no item "01"/],
    [{ op: 'move', from: '/a', path: '/a/b' }, /cannot move a value into itself/],
  ])('%j fails, saying why', (op, why) => {
    expect(() => applyJsonPatch(doc, [op] as never)).toThrow(JsonPatchError);
    expect(() => applyJsonPatch(doc, [op] as never)).toThrow(why);
  });
});

describe('precheck: the priority classes the pods name', () => {
  const values = (set: string[]) => resolveValues({ profile: 'minimal', sets: set });
  const results = async (kube: MemoryKube, set: string[]) =>
    (await runPrecheck(kube, values(set))).results.filter((r) => r.check === 'the priority classes the pods name exist');

  test('a missing class fails, naming it and the classes there are', async () => {
    const kube = new MemoryKube();
    kube.seed({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'system-cluster-critical' } } as KObject);
    const [r] = await results(kube, ['gateway.priorityClassName=gateway-critical']);
    expect(r).toMatchObject({ status: 'fail', detail: expect.stringContaining('no PriorityClass gateway-critical') });
    expect(r!.hint).toContain('(system-cluster-critical)');
  });

  test('classes that exist pass; with none set the check is not listed', async () => {
    const kube = new MemoryKube();
    kube.seed({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'gateway-critical' } } as KObject);
    expect(await results(kube, ['gateway.priorityClassName=gateway-critical'])).toMatchObject([{ status: 'ok', detail: 'gateway-critical' }]);
    expect(await results(kube, [])).toEqual([]);
  });
});

describe('a 403 is a missing permission only when authorization says so', () => {
  test('RBAC\'s "User ... cannot" gets the permission hint; an admission plugin\'s refusal says so instead', () => {
    const rbac = new ApiError(
      403,
      'Forbidden',
      'pods is forbidden: User "dev" cannot create resource "pods" in API group "" in the namespace "istio-system"',
      'POST',
      '/api/v1/namespaces/istio-system/pods',
    );
    const priority = new ApiError(
      403,
      'Forbidden',
      'pods "gw-x" is forbidden: no PriorityClass with name gateway-critical was found',
      'POST',
      '/api/v1/namespaces/istio-system/pods',
    );
    expect(permissionDenied(rbac)).toBe(true);
    expect(permissionDenied(priority)).toBe(false);
    expect((explainApiError(rbac) as AcmgError).hint).toMatch(/you may not create pods in istio-system/);
    expect((explainApiError(priority) as AcmgError).hint).toBe('an admission plugin of the cluster refused it; its message says why');
  });
});
