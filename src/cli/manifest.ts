// acmg manifest generate: the exact objects `acmg install` would apply, offline.
import type { Command } from 'commander';
import { resolveValues } from '../profile/load.js';
import { offlineClusterDomain, renderManifests } from '../render/index.js';
import { log } from '../ui/log.js';
import { parseOutputFormat, writeStdout } from '../ui/output.js';
import { toJson, toYamlStream } from '../render/serialize.js';
import { VERSION } from '../version.js';
import { addValuesOptions, withExamples, type ValuesOptions } from './common.js';

export function registerManifest(program: Command): void {
  const manifest = program.command('manifest').description('render Kubernetes manifests without a cluster');
  withExamples(
    addValuesOptions(manifest.command('generate').description('print the objects an install would apply, in apply order'))
      .option('-o, --output <format>', 'yaml | json', 'yaml')
      .action((opts: ValuesOptions & { output: string }) => {
        const fmt = parseOutputFormat(opts.output, ['yaml', 'json'], 'yaml');
        const doc = resolveValues({ profile: opts.profile, files: opts.filename, sets: opts.set, onWarning: (m) => log.warn(m) });
        const objects = renderManifests(doc, { clusterDomain: offlineClusterDomain(doc), version: VERSION });
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
