// acmg version, as kubectl version: the client; with a cluster also Kubernetes, the installed acmg,
// istiod and CoreDNS, and a warning (stderr) when the installed acmg is not this client's version.
import type { Command } from 'commander';
import { AcmgError, usageError } from '../errors.js';
import { ApiError, explainApiError } from '../kube/api.js';
import type { ComponentRead, DeploymentVersion, InstalledAcmg, ServerVersions } from '../ops/version-info.js';
import { log } from '../ui/log.js';
import { parseOutputFormat, printStructured, writeStdout } from '../ui/output.js';
import { VERSION } from '../version.js';
import { connectFrom } from './common.js';

interface VersionOptions {
  client?: boolean;
  short?: boolean;
  output?: string;
  namespace?: string;
}

/** What `acmg version -o json|yaml` prints (serverVersion is absent with --client or when the cluster could not be read). */
export interface VersionOutput {
  clientVersion: { version: string };
  serverVersion?: ServerVersions;
}

const deploymentText = (d: DeploymentVersion, short: boolean, withRevision: boolean): string => {
  const where = `${d.namespace}/${d.name}${withRevision && d.revision ? `, revision ${d.revision}` : ''}`;
  if (!d.version) return `unknown (${where}: ${d.image ? `image ${d.image} has no version tag` : 'no image'}, and no version label)`;
  if (short) return d.version;
  return `${d.version} (${where}${d.source && d.source !== 'image' ? `, from its ${d.source}` : ''})`;
};

function componentLines(label: string, c: ComponentRead, notFound: string, short: boolean, withRevision: boolean): string[] {
  if (c.error) return [`${label}: unknown (${c.error})`];
  if (c.deployments.length === 0) return [`${label}: not found (${notFound})`];
  if (short) return [`${label}: ${c.deployments.map((d) => d.version ?? 'unknown').join(', ')}`];
  return c.deployments.map((d) => `${label}: ${deploymentText(d, short, withRevision)}`);
}

function acmgLine(a: InstalledAcmg, short: boolean): string {
  if (a.error) return `Installed Version: unknown (${a.error})`;
  if (!a.installed) return `Installed Version: not installed${short ? '' : ` (no acmg state found; looked in ${a.namespace} and by label)`}`;
  if (short) return `Installed Version: ${a.version}`;
  return `Installed Version: ${a.version} (namespace ${a.namespace}, profile ${a.profile}${a.inProgress ? ', install in progress or interrupted' : ''})`;
}

/** The text of `acmg version` (pure: tests call it). */
export function versionText(out: VersionOutput, short: boolean): string {
  const lines = [`Client Version: ${out.clientVersion.version}`];
  const s = out.serverVersion;
  if (s) {
    lines.push(
      acmgLine(s.acmg, short),
      `Kubernetes Version: ${s.kubernetes.gitVersion}`,
      ...componentLines('istiod Version', s.istiod, `no Deployment labelled app=istiod in ${s.istiod.namespace}`, short, true),
      ...componentLines('CoreDNS Version', s.coredns, `no Deployment labelled k8s-app=kube-dns or named coredns in ${s.coredns.namespace}`, short, false),
    );
  }
  return `${lines.join('\n')}\n`;
}

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description("print the client's version; with a cluster also the installed acmg, Kubernetes, istiod and CoreDNS")
    .option('--client', 'only the client version (no cluster needed)')
    .option('--short', 'only the version numbers')
    .option('-o, --output <format>', 'text | json | yaml')
    .option('-n, --namespace <ns>', "install namespace (default: found from acmg's state)")
    .action(async (opts: VersionOptions, cmd: Command) => {
      const fmt = parseOutputFormat(opts.output, ['text', 'json', 'yaml'], 'text');
      if (opts.short && fmt !== 'text') throw usageError('--short and --output json|yaml do not go together: the structured output has every field');
      const out: VersionOutput = { clientVersion: { version: VERSION } };
      const print = () => (fmt === 'text' ? writeStdout(versionText(out, Boolean(opts.short))) : printStructured(out, fmt));
      if (opts.client) return print();
      try {
        const { readServerVersions, versionSkew } = await import('../ops/version-info.js');
        const kube = await connectFrom(cmd);
        out.serverVersion = await readServerVersions(kube, { namespace: opts.namespace });
        const skew = versionSkew(VERSION, out.serverVersion.acmg);
        print();
        if (skew) log.warn(`version skew: ${skew}; run acmg install with this client to upgrade acmg, or use the client of the installed version`);
      } catch (thrown) {
        // The client part is known whatever happened to the cluster: print it, then say why the rest is missing.
        if (out.serverVersion) throw thrown;
        print();
        const e = thrown instanceof ApiError ? explainApiError(thrown) : thrown;
        if (!(e instanceof AcmgError)) throw e;
        throw new AcmgError(e.code, [`could not read the server's versions: ${e.message}`, ...e.problems.slice(1)], e.hint);
      }
    });
}
