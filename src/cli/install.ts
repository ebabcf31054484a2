// acmg install: renders a profile and applies it; never changes how running services are reached.
import type { Command } from 'commander';
import { resolveValues } from '../profile/load.js';
import { renderChecklist } from '../ui/checklist.js';
import { palette } from '../ui/color.js';
import { lineDiff, renderDiff, splitLines } from '../ui/diff.js';
import { parseDuration } from '../input/duration.js';
import { log } from '../ui/log.js';
import { writeStdout } from '../ui/output.js';
import { task } from '../ui/progress.js';
import { confirm } from '../ui/prompt.js';
import { onInterrupt } from '../ui/interrupt.js';
import { toYaml } from '../render/serialize.js';
import { addValuesOptions, withExamples, type ValuesOptions, connectFrom } from './common.js';
import { requireConfirmable } from './preflight.js';

interface InstallOptions extends ValuesOptions {
  yes?: boolean;
  dryRun?: boolean;
  readinessTimeout: string;
}

export function registerInstall(program: Command): void {
  withExamples(
    addValuesOptions(program.command('install').description('install the centralized gateway, its Istio Gateway and DNS settings'))
      .option('-y, --yes', 'do not ask for confirmation (required without a terminal)')
      .option('--dry-run', 'show what would change against the live cluster (server-side dry run), change nothing')
      .option('--readiness-timeout <duration>', 'how long to wait for the gateway to become Available', '5m')
      .action(async (opts: InstallOptions, cmd: Command) => {
        const timeoutMs = parseDuration(opts.readinessTimeout, '--readiness-timeout');
        requireConfirmable(opts, 'install');
        const doc = resolveValues({ profile: opts.profile, files: opts.filename, sets: opts.set, onWarning: (m) => log.warn(m) });
        const { applyInstall, planInstall, planIsEmpty, precheckFailure } = await import('../ops/install.js');
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
        if (opts.dryRun) {
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
          log.info(
            planIsEmpty(plan) ? 'dry run: no changes' : `dry run: ${changes.length} object(s) to apply, ${plan.prune.length} to prune; nothing was changed`,
          );
          return;
        }
        if (planIsEmpty(plan)) {
          log.ok(`acmg is already installed with these values (profile ${doc.spec.profile}); nothing to change`);
          return;
        }
        log.info(`${c.bold('acmg install')} profile ${c.cyan(doc.spec.profile)} into namespace ${c.cyan(doc.spec.namespace)}:`);
        if (plan.createNamespace) log.info(`  ${c.green('+ create')} Namespace ${doc.spec.namespace}`);
        for (const p of changes)
          log.info(
            `  ${p.action === 'create' ? c.green('+ create') : c.yellow('~ update')} ${p.object.kind} ${p.object.metadata.namespace ? `${p.object.metadata.namespace}/` : ''}${p.object.metadata.name}`,
          );
        for (const r of plan.prune) log.info(`  ${c.red('- prune ')} ${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`);
        log.info('  Running services are not affected: only `acmg migrate` moves traffic.');
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
      }),
    [
      'acmg install -y',
      'acmg install --profile ha --set gateway.autoscaling.minReplicas=4 -y',
      'acmg install -f values.yaml --dry-run',
      'acmg install --profile demo --readiness-timeout 2m -y',
    ],
  );
}
