// acmg install: renders a profile and applies it; never changes how running services are reached.
import type { Command } from 'commander';
import { resolveValues } from '../profile/load.js';
import { renderChecklist } from '../ui/checklist.js';
import { palette } from '../ui/color.js';
import { lineDiff, renderDiff, splitLines } from '../ui/diff.js';
import { parseDuration } from '../input/duration.js';
import { log } from '../ui/log.js';
import { parseOutputFormat, printStructured, writeStdout } from '../ui/output.js';
import { task } from '../ui/progress.js';
import { confirm } from '../ui/prompt.js';
import { onInterrupt } from '../ui/interrupt.js';
import { toYaml } from '../render/serialize.js';
import { usageError } from '../errors.js';
import type { KubeApi } from '../kube/api.js';
import type { ObjectRef } from '../model/state.js';
import type { InstallPlan, InstallResult } from '../ops/install.js';
import { addValuesOptions, withExamples, type ValuesOptions, connectFrom } from './common.js';
import { addDryRunOption, dryRunOf, type DryRun } from './dry-run.js';
import { requireConfirmable } from './preflight.js';

interface InstallOptions extends ValuesOptions {
  yes?: boolean;
  dryRun?: string;
  readinessTimeout: string;
  output?: string;
}

/** What `install -o json|yaml` prints: every rendered object with its action, what is pruned, and the gateway once installed. */
export interface InstallOutput {
  dryRun: DryRun;
  profile: string;
  namespace: string;
  createNamespace: boolean;
  objects: (ObjectRef & { action: 'create' | 'update' | 'unchanged' })[];
  prune: ObjectRef[];
  /** The routes of migrated services moving to another routing.api, in place. */
  routingSwitch?: { from: string; to: string; services: string[]; apply: ObjectRef[]; remove: ObjectRef[] };
  gateway?: { clusterIP?: string; ports: InstallResult['ports'] };
}

export function installOutput(plan: InstallPlan, dryRun: DryRun, result?: InstallResult): InstallOutput {
  const s = plan.doc.spec;
  return {
    dryRun,
    profile: s.profile,
    namespace: s.namespace,
    createNamespace: plan.createNamespace,
    objects: plan.objects.map((p) => ({
      action: p.action,
      apiVersion: p.object.apiVersion,
      kind: p.object.kind,
      name: p.object.metadata.name,
      ...(p.object.metadata.namespace ? { namespace: p.object.metadata.namespace } : {}),
    })),
    prune: plan.prune,
    ...(plan.routingSwitch
      ? {
          routingSwitch: {
            from: plan.routingSwitch.from,
            to: plan.routingSwitch.to,
            services: plan.routingSwitch.services,
            apply: plan.routingSwitch.apply.map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace })),
            remove: plan.routingSwitch.remove,
          },
        }
      : {}),
    ...(result?.gatewayClusterIP ? { gateway: { clusterIP: result.gatewayClusterIP, ports: result.ports } } : {}),
  };
}

export function registerInstall(program: Command): void {
  const install = addValuesOptions(program.command('install').description('install the centralized gateway, its Istio Gateway and DNS settings')).option(
    '-y, --yes',
    'do not ask for confirmation (required without a terminal)',
  );
  addDryRunOption(
    install,
    'show what would change against the live cluster (a diff), change nothing',
    'also send each object to create or prune with dryRun=All, so validation and admission webhooks judge it',
  );
  withExamples(
    install
      .option('--readiness-timeout <duration>', 'how long to wait for the gateway to become Available', '5m')
      .option('-o, --output <format>', 'text | json | yaml (the result on stdout: objects and their actions, what is pruned, the gateway)')
      .action(async (opts: InstallOptions, cmd: Command) => {
        const fmt = parseOutputFormat(opts.output, ['text', 'json', 'yaml'], 'text');
        const dryRun = dryRunOf(opts.dryRun);
        const timeoutMs = parseDuration(opts.readinessTimeout, '--readiness-timeout');
        requireConfirmable({ yes: opts.yes, dryRun: dryRun !== 'none' }, 'install');
        const doc = resolveValues({ profile: opts.profile, files: opts.filename, sets: opts.set, onWarning: (m) => log.warn(m) });
        const { applyInstall, planInstall, planIsEmpty, precheckFailure } = await import('../ops/install.js');
        const { describeRoutingSwitch } = await import('../ops/routing-switch.js');
        const kube = await connectFrom(cmd);
        // A failed precheck fails the task: its ✖ line, then the checklist, then the error.
        let refused: Awaited<ReturnType<typeof planInstall>> | undefined;
        const plan = await task('precheck and plan', async () => {
          const p = await planInstall(kube, doc);
          if (p.checks.some((c) => c.status === 'fail')) {
            refused = p;
            throw precheckFailure(p.checks, p.unreachable);
          }
          return p;
        }).catch((e: unknown) => {
          if (refused) process.stderr.write(renderChecklist(refused.checks, process.stderr));
          throw e;
        });
        const c = palette();
        const changes = plan.objects.filter((o) => o.action !== 'unchanged');
        if (dryRun === 'server') await serverDryRun(kube, plan);
        if (dryRun !== 'none') {
          const summary = planIsEmpty(plan)
            ? 'dry run: no changes'
            : `dry run${dryRun === 'server' ? ' (server: the API server accepted every change)' : ''}: ${changes.length} object(s) to apply, ${plan.prune.length} to prune; nothing was changed`;
          if (fmt !== 'text') {
            log.info(summary);
            return printStructured(installOutput(plan, dryRun), fmt);
          }
          for (const p of changes) {
            const label = `${p.object.kind} ${p.object.metadata.namespace ? `${p.object.metadata.namespace}/` : ''}${p.object.metadata.name}`;
            const before = p.live ? splitLines(toYaml(p.live)) : [];
            const after = splitLines(toYaml(p.after ?? p.object));
            writeStdout(
              renderDiff(
                lineDiff(before, after),
                p.live ? `live ${label}` : '/dev/null',
                `${p.action === 'create' ? 'new' : 'updated'} ${label}`,
                process.stdout,
              ),
            );
          }
          for (const r of plan.prune)
            writeStdout(`--- live ${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}\n+++ /dev/null (pruned: the new values no longer render it)\n`);
          if (plan.routingSwitch) writeStdout(`${describeRoutingSwitch(plan.routingSwitch).join('\n')}\n`);
          log.info(summary);
          return;
        }
        if (planIsEmpty(plan)) {
          log.ok(`acmg is already installed with these values (profile ${doc.spec.profile}); nothing to change`);
          if (fmt !== 'text') printStructured(installOutput(plan, dryRun), fmt);
          return;
        }
        log.info(`${c.bold('acmg install')} profile ${c.cyan(doc.spec.profile)} into namespace ${c.cyan(doc.spec.namespace)}:`);
        if (plan.createNamespace) log.info(`  ${c.green('+ create')} Namespace ${doc.spec.namespace}`);
        for (const p of changes)
          log.info(
            `  ${p.action === 'create' ? c.green('+ create') : c.yellow('~ update')} ${p.object.kind} ${p.object.metadata.namespace ? `${p.object.metadata.namespace}/` : ''}${p.object.metadata.name}`,
          );
        for (const r of plan.prune) log.info(`  ${c.red('- prune ')} ${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`);
        if (plan.routingSwitch) for (const line of describeRoutingSwitch(plan.routingSwitch)) log.info(`  ${line}`);
        else log.info('  Running services are not affected: only `acmg migrate` moves traffic.');
        if (!(await confirm('Proceed with the install?', { yes: opts.yes }))) {
          log.warn('install cancelled; nothing was changed');
          return;
        }
        onInterrupt('what was applied is recorded; run acmg install again to finish, or acmg uninstall to remove it');
        const r = await applyInstall(kube, plan, { readinessTimeoutMs: timeoutMs, task });
        log.ok(`acmg ${doc.spec.profile} installed in ${doc.spec.namespace}: ${r.applied} object(s) applied${r.pruned ? `, ${r.pruned} pruned` : ''}`);
        if (r.gatewayClusterIP) {
          log.info(`  gateway ClusterIP: ${r.gatewayClusterIP}`);
          log.info(`  gateway ports:     ${r.ports.map((p) => `${p.name}:${p.port}`).join(', ')}`);
        }
        log.info(`  next: acmg migrate SERVICE -n NAMESPACE --keep-service   (then: acmg verify-dns)`);
        if (fmt !== 'text') printStructured(installOutput(plan, dryRun, r), fmt);
      }),
    [
      'acmg install -y',
      'acmg install --profile ha --set gateway.autoscaling.minReplicas=4 -y',
      'acmg install -f values.yaml --dry-run',
      'acmg install --profile demo --readiness-timeout 2m -y',
    ],
  );
}

/**
 * --dry-run=server: the plan's updates were already judged by the server's dry-run apply
 * (planInstall); here each object to create is applied and each object to prune deleted, with
 * dryRun=All, so the API server's validation and admission webhooks judge them too, and the diff
 * shows the objects as the server would store them. Objects in a namespace that does not exist yet
 * cannot be judged (the API server answers "namespace not found"): refused, exit 2.
 */
export async function serverDryRun(kube: KubeApi, plan: InstallPlan): Promise<void> {
  const { normalize } = await import('../ops/objects.js');
  if (plan.createNamespace)
    throw usageError(
      `install --dry-run=server: namespace ${plan.doc.spec.namespace} does not exist yet, and the API server cannot judge objects in a namespace that does not exist`,
      `create it first (kubectl create namespace ${plan.doc.spec.namespace}), or use --dry-run=client to see the plan`,
    );
  await task('server-side dry run (dryRun=All) of every object to create or prune', async () => {
    for (const p of plan.objects) if (p.action === 'create') p.after = normalize(await kube.apply(p.object, { dryRun: true }));
    for (const r of plan.prune) await kube.delete(r.apiVersion, r.kind, r.name, r.namespace, { dryRun: true });
  });
}
