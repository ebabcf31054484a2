// acmg migrate: move services onto the gateway (approach 1 --keep-service, approach 2 --replace-service).
import type { Command } from 'commander';
import { usageError } from '../errors.js';
import { palette } from '../ui/color.js';
import { parseDuration } from '../input/duration.js';
import { log } from '../ui/log.js';
import { printStructured, writeStdout, parseOutputFormat } from '../ui/output.js';
import { task } from '../ui/progress.js';
import { confirm } from '../ui/prompt.js';
import { onInterrupt } from '../ui/interrupt.js';
import { checkSelection } from '../plan/selection.js';
import { withExamples, connectFrom } from './common.js';
import { parseNameserver, requireConfirmable } from './preflight.js';
import { addDryRunOption, dryRunOf, refuseServerDryRun } from './dry-run.js';

interface MigrateCliOptions {
  namespace?: string;
  all?: boolean;
  selector?: string;
  allNamespaces?: boolean;
  keepService?: boolean;
  replaceService?: boolean;
  dryRun?: string;
  restart?: boolean;
  yes?: boolean;
  rollback: boolean;
  force?: boolean;
  acceptRuleChanges?: boolean;
  acceptPolicyChanges?: boolean;
  nameserver?: string;
  dnsTimeout: string;
  readinessTimeout: string;
  output?: string;
}

export function registerMigrate(program: Command): void {
  withExamples(
    addDryRunOption(
      program.command('migrate [service...]').description("move services' traffic onto the centralized gateway (routes, DNS, sidecar injection off)"),
      'print the plan (every object and label that would change, in order), change nothing (=server is not supported)',
    )
      .option('-n, --namespace <ns>', 'namespace of the services')
      .option('--all', 'every Service in the namespace')
      .option('-l, --selector <selector>', 'Services matching a label selector (all namespaces unless -n)')
      .option('-A, --all-namespaces', 'every Service in every namespace (system and install namespaces excluded)')
      .option('--keep-service', 'approach 1: keep the Service, move only the traffic')
      .option('--replace-service', 'approach 2: a replacement Service carries the routes, the original is removed')
      .option('--restart', "also restart the namespaces' Deployments so their sidecars go")
      .option('-y, --yes', 'do not ask for confirmation (required without a terminal)')
      .option('--no-rollback', 'on failure, leave what was done (default: roll this run back)')
      .option('--force', "rewrite acmg's DNS region even if it was edited by hand")
      .option('--accept-rule-changes', "migrate even where one of the services' VirtualService rules cannot hold at the gateway (the plan names each)")
      .option(
        '--accept-policy-changes',
        'migrate even where the move changes what a mesh security policy (AuthorizationPolicy, PeerAuthentication, RequestAuthentication) does (the plan names each)',
      )
      .option('--nameserver <host:port>', 'verify DNS directly at this nameserver instead of through a port-forward')
      .option('--dns-timeout <duration>', 'how long to wait for DNS to answer the gateway (CoreDNS reload)', '3m')
      .option('--readiness-timeout <duration>', 'how long to wait for gateway endpoints and rollouts', '5m')
      .option('-o, --output <format>', 'text | json (result summary on stdout)')
      .action(async (services: string[], opts: MigrateCliOptions, cmd: Command) => {
        if (Boolean(opts.keepService) === Boolean(opts.replaceService)) {
          throw usageError(
            opts.keepService
              ? 'choose one approach: --keep-service or --replace-service, not both'
              : 'choose an approach: --keep-service (approach 1) or --replace-service (approach 2)',
            'acmg migrate --help explains both',
          );
        }
        const fmt = parseOutputFormat(opts.output, ['text', 'json'], 'text');
        const dryRun = dryRunOf(opts.dryRun);
        // Each step acts on what the one before it made (a route on the door, DNS on the route): the
        // API server cannot admit them one by one without storing them.
        refuseServerDryRun(dryRun, 'acmg migrate', 'its steps build on what the previous steps made, which a server-side dry run does not store');
        const selection = { services, namespace: opts.namespace, all: opts.all, selector: opts.selector, allNamespaces: opts.allNamespaces };
        checkSelection(selection);
        const nameserver = parseNameserver(opts.nameserver);
        requireConfirmable({ yes: opts.yes, dryRun: dryRun !== 'none' }, 'migrate');
        const approach = opts.keepService ? 'keep-service' : 'replace-service';
        const dnsTimeoutMs = parseDuration(opts.dnsTimeout, '--dns-timeout');
        const readinessTimeoutMs = parseDuration(opts.readinessTimeout, '--readiness-timeout');
        const { applyMigration, describeMigration, planMigration } = await import('../ops/migrate/index.js');
        const kube = await connectFrom(cmd);
        const plan = await planMigration(kube, selection, {
          approach,
          restart: opts.restart,
          force: opts.force,
          noRollback: !opts.rollback,
          acceptRuleChanges: opts.acceptRuleChanges,
          acceptPolicyChanges: opts.acceptPolicyChanges,
        });
        const steps = describeMigration(plan);
        const c = palette();
        for (const r of plan.ruleChanges) log.warn(`accepted (--accept-rule-changes): ${r}; the gateway does not apply it`);
        for (const r of plan.policyChanges) log.warn(`accepted (--accept-policy-changes): ${r}`);
        for (const a of plan.alreadyMigrated) log.info(`${a} is already migrated (--${approach}): nothing to do for it`);
        if (plan.candidates.length === 0) {
          if (fmt === 'json') printStructured({ migrated: [], alreadyMigrated: plan.alreadyMigrated, gatewayIP: plan.gatewayIP }, 'json');
          return;
        }
        if (dryRun !== 'none') {
          writeStdout(`Plan (--${approach}, ${plan.candidates.length} service(s)):\n${steps.map((s, i) => `  ${i + 1}. ${s}`).join('\n')}\n`);
          log.info('dry run: nothing was changed');
          return;
        }
        log.info(`${c.bold('acmg migrate')} --${approach}:`);
        steps.forEach((s, i) => log.info(`  ${i + 1}. ${s}`));
        if (!(await confirm(`Migrate ${plan.candidates.length} service(s)?`, { yes: opts.yes }))) {
          log.warn('migrate cancelled; nothing was changed');
          return;
        }
        const { resolverFor } = await import('../ops/resolver-for.js');
        const resolver = await resolverFor(kube, { nameserver, dnsNamespace: plan.install.values.dns.namespace });
        onInterrupt("every completed step is journaled in acmg's state; run the same acmg migrate again to finish, or acmg rollback to undo");
        try {
          const r = await applyMigration(kube, plan, { dnsTimeoutMs, readinessTimeoutMs, resolver, task });
          log.ok(
            `migrated ${r.migrated.length} service(s) onto the gateway (${Object.entries(r.addresses)
              .map(([n, ip]) => `${n}: ${ip}`)
              .join(', ')})`,
          );
          if (fmt === 'json') printStructured({ ...r, apiRequests: kube.requests }, 'json');
          else log.info('  check with: acmg verify-dns   (status: acmg status)');
        } finally {
          await resolver.close();
        }
      }),
    [
      'acmg migrate helloworld -n default --keep-service -y',
      'acmg migrate -n shop --all --replace-service --dry-run',
      'acmg migrate -l acmg.io/migrate=true --keep-service --restart -y',
      'acmg migrate helloworld -n default --keep-service --nameserver 10.96.0.10:53 -y',
    ],
  );
}
