import type { Command } from 'commander';
import type { ObjectRef } from '../model/state.js';
import { palette } from '../ui/color.js';
import { parseDuration } from '../input/duration.js';
import { log } from '../ui/log.js';
import { parseOutputFormat, printStructured } from '../ui/output.js';
import { task } from '../ui/progress.js';
import { confirm } from '../ui/prompt.js';
import { withExamples, connectFrom } from './common.js';
import { addDryRunOption, dryRunOf, refuseServerDryRun, type DryRun } from './dry-run.js';
import { parseNameserver, requireConfirmable } from './preflight.js';
import { refText } from '../ops/objects.js';

interface UninstallOptions {
  purge?: boolean;
  yes?: boolean;
  dryRun?: string;
  namespace?: string;
  nameserver?: string;
  dnsTimeout: string;
  output?: string;
}

/**
 * What `uninstall -o json|yaml` prints: the migrations rolled back and the objects removed (with a
 * dry run: that would be); after a real run also how many objects the API server deleted and
 * whether cluster DNS was written.
 */
export interface UninstallOutput {
  dryRun: DryRun;
  namespace: string;
  purge: boolean;
  rolledBack: string[];
  objects: ObjectRef[];
  deleted?: number;
  dnsRestored?: boolean;
}

export function registerUninstall(program: Command): void {
  const uninstall = program
    .command('uninstall')
    .description('remove acmg; with --purge also move migrated services back and restore the Corefile')
    .option('--purge', "roll back every migration, delete everything labelled as acmg's, restore cluster DNS")
    .option('-y, --yes', 'do not ask for confirmation (required without a terminal)');
  addDryRunOption(uninstall, 'print what would be removed, change nothing (=server is not supported)');
  withExamples(
    uninstall
      .option('-n, --namespace <ns>', "install namespace (default: found from acmg's state)")
      .option('--nameserver <host:port>', 'verify DNS directly at this nameserver instead of through a port-forward')
      .option('--dns-timeout <duration>', 'how long to wait for DNS to answer the original addresses', '3m')
      .option('-o, --output <format>', 'text | json | yaml (what was rolled back and removed, on stdout)')
      .action(async (opts: UninstallOptions, cmd: Command) => {
        const fmt = parseOutputFormat(opts.output, ['text', 'json', 'yaml'], 'text');
        const dryRun = dryRunOf(opts.dryRun);
        refuseServerDryRun(
          dryRun,
          'acmg uninstall',
          "its rollbacks wait on DNS answers and its DNS restore is computed from the live Corefile, which a dry run on the server never changes; uninstall's use case has no server-side dry run",
        );
        const dnsTimeoutMs = parseDuration(opts.dnsTimeout, '--dns-timeout');
        const nameserver = parseNameserver(opts.nameserver);
        requireConfirmable({ yes: opts.yes, dryRun: dryRun !== 'none' }, 'uninstall');
        const { applyUninstall, planUninstall, uninstallIsEmpty } = await import('../ops/uninstall.js');
        const kube = await connectFrom(cmd);
        const plan = await planUninstall(kube, { purge: Boolean(opts.purge), namespace: opts.namespace });
        const output = (extra: Pick<UninstallOutput, 'deleted' | 'dnsRestored'> = {}): void => {
          if (fmt === 'text') return;
          const out: UninstallOutput = {
            dryRun,
            namespace: plan.namespace,
            purge: plan.purge,
            rolledBack: plan.purge ? plan.migrated : [],
            objects: plan.objects,
            ...extra,
          };
          printStructured(out, fmt);
        };
        const c = palette();
        if (uninstallIsEmpty(plan)) {
          log.ok("acmg is not installed and nothing labelled as acmg's was found: nothing to do");
          return output();
        }
        log.info(`${c.bold(`acmg uninstall${plan.purge ? ' --purge' : ''}`)} (namespace ${plan.namespace}):`);
        if (plan.purge && plan.migrated.length) log.info(`  ${c.yellow('↶ roll back')} ${plan.migrated.join(', ')}`);
        for (const r of plan.objects) log.info(`  ${c.red('- delete')} ${refText(r)}`);
        if (plan.purge || plan.dnsLeftovers) log.info(`  ${c.yellow('↶ restore')} cluster DNS configuration (${plan.dns.namespace}/${plan.dns.configMap})`);
        // Refuses (exit 2) while services are migrated and --purge is not given.
        if (!plan.purge && plan.migrated.length) await applyUninstall(kube, plan, { dnsTimeoutMs, task });
        if (dryRun !== 'none') {
          log.info('dry run: nothing was changed');
          return output();
        }
        if (!(await confirm(`Remove acmg${plan.purge ? ' and move every migrated service back' : ''}?`, { yes: opts.yes }))) {
          log.warn('uninstall cancelled; nothing was changed');
          return;
        }
        const { resolverFor } = await import('../ops/resolver-for.js');
        const resolver = plan.purge && plan.migrated.length ? await resolverFor(kube, { nameserver, dnsNamespace: plan.dns.namespace }) : undefined;
        try {
          const r = await applyUninstall(kube, plan, { resolver, dnsTimeoutMs, task });
          const dns = r.dnsRestored || plan.migrated.length ? 'restored to its original configuration' : 'unchanged (acmg had no entries in it)';
          log.ok(`acmg removed: ${r.deleted} object(s) deleted; cluster DNS ${dns}`);
          output({ deleted: r.deleted, dnsRestored: r.dnsRestored });
        } finally {
          await resolver?.close();
        }
      }),
    ['acmg uninstall -y', 'acmg uninstall --purge -y', 'acmg uninstall --purge --dry-run'],
  );
}
