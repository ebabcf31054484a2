// acmg sync [--watch]: DNS and gateway ports follow the routes bound to the acmg Gateway (VirtualServices, or HTTPRoutes and TCPRoutes).
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { clusterError, usageError } from '../errors.js';
import { parseDuration } from '../input/duration.js';
import { stopGracefully } from '../ui/interrupt.js';
import { log } from '../ui/log.js';
import { parseOutputFormat, printStructured, writeStdout } from '../ui/output.js';
import { lazyResolver } from '../dns/resolver.js';
import { withExamples, connectFrom } from './common.js';
import { parseNameserver } from './preflight.js';
import { addDryRunOption, dryRunOf, refuseServerDryRun } from './dry-run.js';

interface SyncOptions {
  dryRun?: string;
  watch?: boolean;
  resyncPeriod: string;
  debounce: string;
  healthPort: string;
  unhealthyAfter: string;
  leaderElect?: boolean;
  force?: boolean;
  nameserver?: string;
  dnsTimeout: string;
  output?: string;
}

export function registerSync(program: Command): void {
  withExamples(
    addDryRunOption(
      program.command('sync').description("make DNS and gateway ports match acmg's migrations and the routes bound to its Gateway"),
      'print what would change, change nothing (=server is not supported)',
    )
      .option('--watch', 'keep reconciling as a controller (watches, debounce, resync, /healthz /readyz /metrics)')
      .option('--resync-period <duration>', 'with --watch: full reconcile at least this often', '5m')
      .option('--debounce <duration>', 'with --watch: wait for this much quiet before reconciling a burst', '500ms')
      .option('--health-port <port>', 'with --watch: port for /healthz, /readyz and /metrics (0: any free port)', '9440')
      .option('--unhealthy-after <duration>', 'with --watch: /healthz fails once every API request has failed for this long', '2m')
      .option('--leader-elect', 'with --watch: take a Lease so only one replica reconciles')
      .option('--force', "rewrite acmg's DNS region even if it was edited by hand")
      .option('--nameserver <host:port>', 'check the answers after a write directly at this nameserver instead of through a port-forward')
      .option(
        '--dns-timeout <duration>',
        'on coredns-custom layouts: how long to check that DNS answers a write (halfway, repair a write CoreDNS missed); 0 skips the check',
        '2m',
      )
      .option('-o, --output <format>', 'text | json')
      .action(async (opts: SyncOptions, cmd: Command) => {
        const fmt = parseOutputFormat(opts.output, ['text', 'json'], 'text');
        const resyncMs = parseDuration(opts.resyncPeriod, '--resync-period');
        const debounceMs = parseDuration(opts.debounce, '--debounce');
        const unhealthyAfterMs = parseDuration(opts.unhealthyAfter, '--unhealthy-after');
        const healthPort = Number(opts.healthPort);
        if (!Number.isInteger(healthPort) || healthPort < 0 || healthPort > 65535) throw usageError(`invalid --health-port "${opts.healthPort}": use 0-65535`);
        const dryRun = dryRunOf(opts.dryRun);
        refuseServerDryRun(
          dryRun,
          'acmg sync',
          'its DNS write is a read-modify-write of the Corefile, checked on the fresh read, not a single request the API server could admit',
        );
        if (opts.watch && dryRun !== 'none') throw usageError('--dry-run reconciles once; it does not go with --watch');
        const dnsTimeoutMs = parseDuration(opts.dnsTimeout, '--dns-timeout');
        const nameserver = parseNameserver(opts.nameserver);
        const kube = await connectFrom(cmd);
        // Made on the first check (only coredns-custom layouts check), from the install record's DNS namespace.
        const resolver = lazyResolver(nameserver ? `${nameserver.host}:${nameserver.port}` : 'a port-forward to a CoreDNS pod', async () => {
          const [{ resolverFor }, { loadInstall }] = await Promise.all([import('../ops/resolver-for.js'), import('../ops/install-record.js')]);
          return resolverFor(kube, { nameserver, dnsNamespace: (await loadInstall(kube)).values.dns.namespace });
        });
        const confirm = dnsTimeoutMs > 0 ? { resolver, timeoutMs: dnsTimeoutMs } : undefined;
        if (opts.watch) {
          const { runController } = await import('../ops/controller.js');
          const ac = new AbortController();
          // Stops well within Kubernetes' default 30s grace period.
          stopGracefully(() => ac.abort(), 10_000);
          try {
            await runController(kube, {
              resyncMs,
              debounceMs,
              maxDelayMs: Math.max(debounceMs * 4, 2000),
              healthPort,
              unhealthyAfterMs,
              leaderElect: Boolean(opts.leaderElect),
              identity: process.env.POD_NAME ?? `${hostname()}-${process.pid}`,
              force: opts.force,
              confirm,
              log: (m) => log.info(m),
              signal: ac.signal,
            });
          } finally {
            await resolver.close();
          }
          return;
        }
        const { reconcile } = await import('../ops/sync.js');
        const r = await reconcile(kube, { dryRun: dryRun !== 'none', force: opts.force, confirm }).finally(() => resolver.close());
        for (const w of r.warnings) log.warn(w);
        if (fmt === 'json') return printStructured(r, 'json');
        const lines = [...r.add.map((e) => `+ ${e.fqdn} -> ${e.ip}`), ...r.remove.map((e) => `- ${e.fqdn} -> ${e.ip}`)];
        if (r.portsChanged) lines.push(`~ gateway ports from routes bound to the Gateway: ${r.ports.join(', ') || 'none'}`);
        lines.push(...r.routes.map((x) => `~ ${x} (following the user's routing)`));
        if (lines.length === 0) writeStdout('in sync: nothing to change\n');
        else {
          const repaired = r.dnsCheck?.repaired ? ', one of them repairing the first, which CoreDNS had not loaded' : '';
          writeStdout(
            `${lines.join('\n')}\n${dryRun !== 'none' ? '(dry run: nothing was changed)\n' : `(${r.dnsWrites} CoreDNS write${r.dnsWrites === 1 ? '' : 's'}${repaired})\n`}`,
          );
        }
        // The write is in place, but a CI script must not go on as if DNS served it.
        if (r.dnsCheck?.unconfirmed)
          throw clusterError(
            `DNS does not answer the write for ${r.dnsCheck.unconfirmed} of ${r.dnsCheck.names} names checked (the warning above says which)`,
            'CoreDNS may be slow to load coredns-custom; check its logs and run acmg sync again, or raise --dns-timeout',
          );
      }),
    ['acmg sync --dry-run', 'acmg sync', 'acmg sync --watch --leader-elect --health-port 9440'],
  );
}
