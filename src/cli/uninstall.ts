import type { Command } from 'commander';
import { palette } from '../ui/color.js';
import { parseDuration } from '../input/duration.js';
import { log } from '../ui/log.js';
import { task } from '../ui/progress.js';
import { confirm } from '../ui/prompt.js';
import { withExamples, connectFrom } from './common.js';
import { parseNameserver, requireConfirmable } from './preflight.js';
import { refText } from '../ops/objects.js';

interface UninstallOptions {
  purge?: boolean;
  yes?: boolean;
  dryRun?: boolean;
  namespace?: string;
  nameserver?: string;
  dnsTimeout: string;
}

export function registerUninstall(program: Command): void {
  withExamples(
    program
      .command('uninstall')
      .description('remove acmg; with --purge also move migrated services back and restore the Corefile')
      .option('--purge', "roll back every migration, delete everything labelled as acmg's, restore cluster DNS")
      .option('-y, --yes', 'do not ask for confirmation (required without a terminal)')
      .option('--dry-run', 'print what would be removed, change nothing')
      .option('-n, --namespace <ns>', "install namespace (default: found from acmg's state)")
      .option('--nameserver <host:port>', 'verify DNS directly at this nameserver instead of through a port-forward')
      .option('--dns-timeout <duration>', 'how long to wait for DNS to answer the original addresses', '3m')
      .action(async (opts: UninstallOptions, cmd: Command) => {
        const dnsTimeoutMs = parseDuration(opts.dnsTimeout, '--dns-timeout');
        const nameserver = parseNameserver(opts.nameserver);
        requireConfirmable(opts, 'uninstall');
        const { applyUninstall, planUninstall, uninstallIsEmpty } = await import('../ops/uninstall.js');
        const kube = await connectFrom(cmd);
        const plan = await planUninstall(kube, { purge: Boolean(opts.purge), namespace: opts.namespace });
        const c = palette();
        if (uninstallIsEmpty(plan)) {
          log.ok("acmg is not installed and nothing labelled as acmg's was found: nothing to do");
          return;
        }
        log.info(`${c.bold(`acmg uninstall${plan.purge ? ' --purge' : ''}`)} (namespace ${plan.namespace}):`);
        if (plan.purge && plan.migrated.length) log.info(`  ${c.yellow('↶ roll back')} ${plan.migrated.join(', ')}`);
        for (const r of plan.objects) log.info(`  ${c.red('- delete')} ${refText(r)}`);
        if (plan.purge || plan.dnsLeftovers) log.info(`  ${c.yellow('↶ restore')} cluster DNS configuration (${plan.dns.namespace}/${plan.dns.configMap})`);
        // Refuses (exit 2) while services are migrated and --purge is not given.
        if (!plan.purge && plan.migrated.length) await applyUninstall(kube, plan, { dnsTimeoutMs, task });
        if (opts.dryRun) {
          log.info('dry run: nothing was changed');
          return;
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
        } finally {
          await resolver?.close();
        }
      }),
    ['acmg uninstall -y', 'acmg uninstall --purge -y', 'acmg uninstall --purge --dry-run'],
  );
}
