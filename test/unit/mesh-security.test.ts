// Mesh security policies whose meaning a migration changes (plan/mesh-security.ts): which ones are
// named, and how. The use case's refusal is in migrate-usecase.test.ts; istiod's RBAC filters
// before and after are in test/e2e/mesh-security.test.ts.
import type { KObject } from '../../src/model/object.js';
import { policyChanges, type PolicyInput } from '../../src/plan/mesh-security.js';

const policy = (kind: string, namespace: string, name: string, spec: object): KObject => ({
  apiVersion: 'security.istio.io/v1',
  kind,
  metadata: { name, namespace },
  spec,
});

const input = (policies: KObject[]): PolicyInput => ({
  services: [{ namespace: 'shop', service: 'reviews', selector: { app: 'reviews' } }],
  pods: new Map([
    [
      'shop',
      [
        { app: 'reviews', version: 'v1' },
        { app: 'ratings', version: 'v1' },
      ],
    ],
  ]),
  policies,
  rootNamespace: 'istio-system',
  gatewayPrincipal: 'cluster.local/ns/istio-system/sa/acmg-gateway',
});

test("an ALLOW policy on the service's pods by source principal: no longer enforced once the sidecars go, and until then it sees the gateway", () => {
  const ap = policy('AuthorizationPolicy', 'shop', 'reviews-viewer', {
    selector: { matchLabels: { app: 'reviews' } },
    rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/productpage'] } }] }],
  });
  expect(policyChanges(input([ap]))).toEqual([
    'AuthorizationPolicy shop/reviews-viewer (ALLOW) applies to the pods of shop/reviews at their sidecars, which the move removes: it will no longer be enforced (what it did not allow is allowed); until then its from.source rules see every call coming from the gateway (cluster.local/ns/istio-system/sa/acmg-gateway), so calls it allowed are denied',
  ]);
});

test('a DENY policy for the whole namespace, and a mesh-wide one from the root namespace, fail open', () => {
  const out = policyChanges(
    input([
      policy('AuthorizationPolicy', 'shop', 'deny-delete', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }] }),
      policy('AuthorizationPolicy', 'istio-system', 'mesh-deny', { action: 'DENY', rules: [{}] }),
    ]),
  );
  expect(out).toHaveLength(2);
  expect(out.every((l) => /\(DENY\) applies to the pods of shop\/reviews .*what it denied is allowed\)$/.test(l))).toBe(true);
});

test('policies that select other pods, bind a waypoint (targetRefs), or live in another namespace are not named', () => {
  expect(
    policyChanges(
      input([
        policy('AuthorizationPolicy', 'shop', 'ratings-only', { selector: { matchLabels: { app: 'ratings' } }, rules: [{}] }),
        policy('AuthorizationPolicy', 'shop', 'waypoint', { targetRefs: [{ kind: 'Gateway', name: 'waypoint' }], rules: [{}] }),
        policy('AuthorizationPolicy', 'web', 'all', { rules: [{}] }),
        policy('AuthorizationPolicy', 'istio-system', 'gateway-only', { selector: { matchLabels: { app: 'acmg-gateway' } }, rules: [{}] }),
        policy('RequestAuthentication', 'web', 'jwt', { jwtRules: [{ issuer: 'x' }] }),
      ]),
    ),
  ).toEqual([]);
});

test("a policy in the root namespace with a selector applies to the migrated service's pods in their namespace too", () => {
  const out = policyChanges(
    input([policy('AuthorizationPolicy', 'istio-system', 'reviews-everywhere', { selector: { matchLabels: { app: 'reviews' } }, rules: [{}] })]),
  );
  expect(out).toEqual([expect.stringMatching(/^AuthorizationPolicy istio-system\/reviews-everywhere \(ALLOW\) applies to the pods of shop\/reviews/)]);
});

test('a RequestAuthentication on the pods stops validating their JWTs', () => {
  expect(
    policyChanges(input([policy('RequestAuthentication', 'shop', 'jwt', { selector: { matchLabels: { version: 'v1' } }, jwtRules: [{ issuer: 'x' }] })])),
  ).toEqual([
    'RequestAuthentication shop/jwt validates JWTs at the sidecars of shop/reviews, which the move removes: their requests will no longer be validated',
  ]);
});

test("STRICT mTLS elsewhere (mesh-wide, a namespace, a port) refuses the sidecar-less pods' own calls; PERMISSIVE and the migrated namespace's own do not matter", () => {
  const out = policyChanges(
    input([
      policy('PeerAuthentication', 'istio-system', 'default', { mtls: { mode: 'STRICT' } }),
      policy('PeerAuthentication', 'payments', 'strict', { mtls: { mode: 'STRICT' } }),
      policy('PeerAuthentication', 'db', 'port', { selector: { matchLabels: { app: 'pg' } }, portLevelMtls: { 5432: { mode: 'STRICT' } } }),
      policy('PeerAuthentication', 'web', 'permissive', { mtls: { mode: 'PERMISSIVE' } }),
      policy('PeerAuthentication', 'shop', 'strict', { mtls: { mode: 'STRICT' } }),
    ]),
  );
  expect(out).toEqual([
    'PeerAuthentication db/port requires mTLS (STRICT) for workloads selected in db: the pods of shop, without sidecars, cannot present it, so their own calls to services there will be refused',
    'PeerAuthentication istio-system/default requires mTLS (STRICT) for every namespace in the mesh: the pods of shop, without sidecars, cannot present it, so their own calls to services there will be refused',
    'PeerAuthentication payments/strict requires mTLS (STRICT) for namespace payments: the pods of shop, without sidecars, cannot present it, so their own calls to services there will be refused',
  ]);
});
