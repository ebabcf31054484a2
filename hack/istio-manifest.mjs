#!/usr/bin/env node
// Turns `istioctl manifest generate` output into what the local control plane applies, by the
// fixed translation rules below (documented in README, Development). istiod itself runs as a
// process on loopback, not in its (simulated, kwok) pod, so:
//   - webhooks reach istiod by clientConfig.url https://127.0.0.1:$ISTIOD_WEBHOOK_PORT<path> instead
//     of clientConfig.service (the API server cannot reach a Service IP here); istiod patches their
//     caBundle itself, as in a cluster;
//   - istiod's environment is the chart's Deployment's own (literal values), printed as KEY=value
//     lines for the harness to start the process with; fieldRef values are the harness's to fill in;
//   - everything else (CRDs, ConfigMaps `istio` and `istio-sidecar-injector`, RBAC, the istiod
//     Deployment and Service, which kwok "runs") is applied unchanged.
//
//   node hack/istio-manifest.mjs <rendered.yaml> <out-dir>
//     writes <out-dir>/crds.json, <out-dir>/objects.json, <out-dir>/istiod.env, <out-dir>/istiod.args
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), '..', 'package.json'));
let yaml;
try {
  yaml = require('js-yaml');
} catch {
  console.error('istio-manifest: js-yaml is missing; run `npm install` in the project first');
  process.exit(1);
}

const [input, out] = process.argv.slice(2);
if (!input || !out) {
  console.error('usage: istio-manifest.mjs <rendered.yaml> <out-dir>');
  process.exit(2);
}
const webhookPort = process.env.ISTIOD_WEBHOOK_PORT ?? '15017';
const docs = yaml.loadAll(readFileSync(input, 'utf8')).filter((d) => d && d.kind);

const toURL = (w) => {
  const svc = w.clientConfig?.service;
  if (!svc) return w;
  const { service, ...rest } = w.clientConfig;
  void service;
  return { ...w, clientConfig: { ...rest, url: `https://127.0.0.1:${webhookPort}${svc.path ?? '/'}` } };
};

const crds = [];
const objects = [];
let istiod;
for (const d of docs) {
  if (d.kind === 'CustomResourceDefinition') crds.push(d);
  else if (d.kind === 'MutatingWebhookConfiguration' || d.kind === 'ValidatingWebhookConfiguration') {
    objects.push({ ...d, webhooks: (d.webhooks ?? []).map(toURL) });
  } else {
    if (d.kind === 'Deployment' && d.metadata?.name?.startsWith('istiod')) istiod = d;
    objects.push(d);
  }
}
if (!istiod) {
  console.error('istio-manifest: the rendered manifest has no istiod Deployment');
  process.exit(1);
}
const container = istiod.spec.template.spec.containers.find((c) => c.name === 'discovery') ?? istiod.spec.template.spec.containers[0];
const env = (container.env ?? []).filter((e) => typeof e.value === 'string').map((e) => `${e.name}=${e.value.replaceAll('\n', ' ')}`);
const list = (items) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 1);
writeFileSync(join(out, 'crds.json'), list(crds));
writeFileSync(join(out, 'objects.json'), list(objects));
writeFileSync(join(out, 'istiod.env'), env.sort().join('\n') + '\n');
writeFileSync(join(out, 'istiod.args'), (container.args ?? []).join('\n') + '\n');
console.error(`istio-manifest: ${crds.length} CRDs, ${objects.length} objects, istiod env ${env.length} values`);
