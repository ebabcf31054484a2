// acmg manifest generate: everything `acmg install` would put in the cluster, offline: the objects it
// applies and the state ConfigMap with its install record (render/install.ts), for the DNS layout
// the values name (dns.mode, dns.clusterDomain), --no-dns-reload and --coredns-deployment. `acmg
// manifest generate | kubectl apply -f -`, or a GitOps tool applying it, gives an install status,
// the controller and uninstall --purge recognise.
import type { Command } from 'commander';
import { usageError } from '../errors.js';
import { dns1123Subdomain } from '../profile/k8s-formats.js';
import { resolveValues } from '../profile/load.js';
import { offlineClusterDomain } from '../render/index.js';
import { offlineLayout, renderInstall } from '../render/install.js';
import { DEFAULT_COREDNS_DEPLOYMENT } from '../render/types.js';
import { log } from '../ui/log.js';
import { parseOutputFormat, writeStdout } from '../ui/output.js';
import { toJson, toYamlStream } from '../render/serialize.js';
import { VERSION } from '../version.js';
import { addValuesOptions, withExamples, type ValuesOptions } from './common.js';

interface ManifestOptions extends ValuesOptions {
  output: string;
  /** false with --no-dns-reload. */
  dnsReload: boolean;
  /** --coredns-deployment: the CoreDNS Deployment's name (coredns by default). */
  corednsDeployment: string;
}

export function registerManifest(program: Command): void {
  const manifest = program.command('manifest').description('render Kubernetes manifests without a cluster');
  withExamples(
    addValuesOptions(
      manifest
        .command('generate')
        .summary("print everything an install would apply: its objects and acmg's install record")
        .description(
          "print everything an install would apply, in apply order: its objects and acmg's install record (ConfigMap acmg-state). " +
            'The cluster is not asked: name its DNS layout with --set dns.mode=corefile|custom (and --no-dns-reload where CoreDNS ' +
            'has no reload plugin, with --coredns-deployment NAME where its Deployment is not named coredns), and its domain with ' +
            '--set dns.clusterDomain=DOMAIN where it is not cluster.local',
        ),
    )
      .option('-o, --output <format>', 'yaml | json', 'yaml')
      .option('--no-dns-reload', "the cluster's Corefile has no reload plugin (the controller may then restart CoreDNS, as install renders it there)")
      .option(
        '--coredns-deployment <name>',
        "the CoreDNS Deployment's name (install finds it by the label k8s-app=kube-dns: rke2-coredns-rke2-coredns on RKE2): the one the controller may restart",
        DEFAULT_COREDNS_DEPLOYMENT,
      )
      .action((opts: ManifestOptions) => {
        const fmt = parseOutputFormat(opts.output, ['yaml', 'json'], 'yaml');
        const doc = resolveValues({ profile: opts.profile, files: opts.filename, sets: opts.set, onWarning: (m) => log.warn(m) });
        const s = doc.spec;
        const corednsName = opts.corednsDeployment;
        const badName = dns1123Subdomain(corednsName);
        if (badName) throw usageError(`invalid --coredns-deployment "${corednsName}": it ${badName}`);
        if (s.controller.enabled && s.dns.enabled && s.dns.mode === 'auto' && opts.dnsReload)
          log.warn(
            'dns.mode is auto, and the layout cannot be detected offline: the controller may port-forward to CoreDNS pods and restart CoreDNS, ' +
              'which only coredns-custom layouts (k3s, AKS) need; --set dns.mode=corefile (kubeadm, kind, EKS, minikube) renders what install applies there',
          );
        const objects = renderInstall(doc, {
          clusterDomain: offlineClusterDomain(doc),
          version: VERSION,
          layout: offlineLayout(s, opts.dnsReload, corednsName),
        });
        writeStdout(fmt === 'json' ? toJson({ apiVersion: 'v1', kind: 'List', items: objects }) : toYamlStream(objects));
      }),
    [
      'acmg manifest generate',
      'acmg manifest generate --profile ha -o json',
      'acmg manifest generate -f my-values.yaml --set gateway.replicas=3',
      `acmg manifest generate --set 'gateway.placement.nodeSelector.node-role\\.kubernetes\\.io/gateway=""'`,
    ],
  );
}
