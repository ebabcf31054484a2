// acmg rollback: undo migrations (also interrupted ones) in reverse order.
import type { Command } from 'commander';
import { parseDuration } from '../input/duration.js';
import { log } from '../ui/log.js';
import { parseOutputFormat, printStructured } from '../ui/output.js';
import { task } from '../ui/progress.js';
import { confirm } from '../ui/prompt.js';
import { onInterrupt } from '../ui/interrupt.js';
import { checkRollbackSelection, rollbackKeys } from '../plan/rollback.js';
import { withExamples, connectFrom } from './common.js';
import { addDryRunOption, dryRunOf, refuseServerDryRun, type DryRun } from './dry-run.js';
import { parseNameserver, requireConfirmable } from './preflight.js';

interface RollbackCliOptions {
  namespace?: string;
  all?: boolean;
  yes?: boolean;
  dryRun?: string;
  nameserver?: string;
  dnsTimeout: string;
  restart?: boolean;
  readinessTimeout: string;
  output?: string;
}

/** What `rollback -o json|yaml` prints: the migrations rolled back (with a dry run: that would be), as namespace/service. */
export interface RollbackOutput {
  dryRun: DryRun;
  rolledBack: string[];
}

export function registerRollback(program: Command): void {
  const rollback = program
    .command('rollback [service...]')
    .description('move migrated services back to their own Services and sidecars (reverse order)')
    .option('-n, --namespace <ns>', 'namespace of the services (with names, or alone: all migrated there)')
    .option('--all', 'every migrated service in every namespace')
    .option('-y, --yes', 'do not ask for confirmation (required without a terminal)');
  addDryRunOption(rollback, 'print what would be rolled back, change nothing (=server is not supported)');
  withExamples(
    rollback
      .option('--nameserver <host:port>', 'verify DNS directly at this nameserver instead of through a port-forward')
      .option('--dns-timeout <duration>', 'how long to wait for DNS to answer the original addresses', '3m')
      .option('--restart', 'also restart the Deployments of namespaces whose sidecar injection is restored, so their sidecars come back')
      .option('--readiness-timeout <duration>', 'how long to wait for each restarted Deployment', '5m')
      .option('-o, --output <format>', 'text | json | yaml (the services rolled back, on stdout)')
      .action(async (services: string[], opts: RollbackCliOptions, cmd: Command) => {
        const fmt = parseOutputFormat(opts.output, ['text', 'json', 'yaml'], 'text');
        const dryRun = dryRunOf(opts.dryRun);
        // Each phase waits on the one before (DNS answering, a ClusterIP released): none of it can be a dry run on the server.
        refuseServerDryRun(
          dryRun,
          'acmg rollback',
          "its phases act on each other's results (DNS answers, released ClusterIPs), which a dry run never produces",
        );
        const dnsTimeoutMs = parseDuration(opts.dnsTimeout, '--dns-timeout');
        const readinessTimeoutMs = parseDuration(opts.readinessTimeout, '--readiness-timeout');
        const selection = { services, namespace: opts.namespace, all: opts.all };
        checkRollbackSelection(selection);
        const nameserver = parseNameserver(opts.nameserver);
        requireConfirmable({ yes: opts.yes, dryRun: dryRun !== 'none' }, 'rollback');
        const print = (rolledBack: string[]) => {
          if (fmt !== 'text') printStructured({ dryRun, rolledBack } satisfies RollbackOutput, fmt);
        };
        const { rollbackMigrations } = await import('../ops/rollback.js');
        const { requireInstall } = await import('../ops/install-record.js');
        const kube = await connectFrom(cmd);
        const { install, state } = await requireInstall(kube);
        const keys = rollbackKeys(state, selection);
        if (keys.length === 0) {
          log.ok('no migrated services match: nothing to roll back');
          return print([]);
        }
        log.info(`roll back: ${keys.join(', ')}`);
        if (dryRun !== 'none') {
          log.info('dry run: nothing was changed');
          return print(keys);
        }
        if (!(await confirm(`Roll back ${keys.length} service(s)?`, { yes: opts.yes }))) return;
        const { resolverFor } = await import('../ops/resolver-for.js');
        const resolver = await resolverFor(kube, { nameserver, dnsNamespace: install.values.dns.namespace });
        onInterrupt('the rollback is journaled; run acmg rollback again to finish it');
        try {
          const done = await rollbackMigrations(kube, install, keys, { resolver, dnsTimeoutMs, task, restart: opts.restart, readinessTimeoutMs });
          log.ok(`rolled back ${done.length} service(s)`);
          print(done);
        } finally {
          await resolver.close();
        }
      }),
    ['acmg rollback helloworld -n default -y', 'acmg rollback -n shop --restart -y', 'acmg rollback --all -y --nameserver 127.0.0.1:10053'],
  );
}
