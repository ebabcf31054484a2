// acmg sync [--watch]: DNS and gateway ports follow VirtualServices bound to the acmg Gateway.
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { usageError } from '../errors.js';
import { parseDuration } from '../input/duration.js';
import { stopGracefully } from '../ui/interrupt.js';
import { log } from '../ui/log.js';
import { parseOutputFormat, printStructured, writeStdout } from '../ui/output.js';
import { withExamples, connectFrom } from './common.js';

interface SyncOptions {
  dryRun?: boolean;
  watch?: boolean;
  resyncPeriod: string;
  debounce: string;
  healthPort: string;
  unhealthyAfter: string;
  leaderElect?: boolean;
  force?: boolean;
  output?: string;
}

export function registerSync(program: Command): void {
  withExamples(
    program
      .command('sync')
      .description("make DNS and gateway ports match acmg's migrations and the VirtualServices bound to its Gateway")
      .option('--dry-run', 'print what would change, change nothing')
      .option('--watch', 'keep reconciling as a controller (watches, debounce, resync, /healthz /readyz /metrics)')
      .option('--resync-period <duration>', 'with --watch: full reconcile at least this often', '5m')
      .option('--debounce <duration>', 'with --watch: wait for this much quiet before reconciling a burst', '500ms')
      .option('--health-port <port>', 'with --watch: port for /healthz, /readyz and /metrics (0: any free port)', '9440')
      .option('--unhealthy-after <duration>', 'with --watch: /healthz fails once every API request has failed for this long', '2m')
      .option('--leader-elect', 'with --watch: take a Lease so only one replica reconciles')
      .option('--force', "rewrite acmg's DNS region even if it was edited by hand")
      .option('-o, --output <format>', 'text | json')
      .action(async (opts: SyncOptions, cmd: Command) => {
        const fmt = parseOutputFormat(opts.output, ['text', 'json'], 'text');
        const resyncMs = parseDuration(opts.resyncPeriod, '--resync-period');
        const debounceMs = parseDuration(opts.debounce, '--debounce');
        const unhealthyAfterMs = parseDuration(opts.unhealthyAfter, '--unhealthy-after');
        const healthPort = Number(opts.healthPort);
        if (!Number.isInteger(healthPort) || healthPort < 0 || healthPort > 65535) throw usageError(`invalid --health-port "${opts.healthPort}": use 0-65535`);
        if (opts.watch && opts.dryRun) throw usageError('--dry-run reconciles once; it does not go with --watch');
        const kube = await connectFrom(cmd);
        if (opts.watch) {
          const { runController } = await import('../ops/controller.js');
          const ac = new AbortController();
          // Stops well within Kubernetes' default 30s grace period.
          stopGracefully(() => ac.abort(), 10_000);
          await runController(kube, {
            resyncMs,
            debounceMs,
            maxDelayMs: Math.max(debounceMs * 4, 2000),
            healthPort,
            unhealthyAfterMs,
            leaderElect: Boolean(opts.leaderElect),
            identity: process.env.POD_NAME ?? `${hostname()}-${process.pid}`,
            force: opts.force,
            log: (m) => log.info(m),
            signal: ac.signal,
          });
          return;
        }
        const { reconcile } = await import('../ops/sync.js');
        const r = await reconcile(kube, { dryRun: opts.dryRun, force: opts.force });
        for (const w of r.warnings) log.warn(w);
        if (fmt === 'json') return printStructured(r, 'json');
        const lines = [...r.add.map((e) => `+ ${e.fqdn} -> ${e.ip}`), ...r.remove.map((e) => `- ${e.fqdn} -> ${e.ip}`)];
        if (r.portsChanged) lines.push(`~ gateway ports from VirtualServices: ${r.ports.join(', ') || 'none'}`);
        if (lines.length === 0) writeStdout('in sync: nothing to change\n');
        else writeStdout(`${lines.join('\n')}\n${opts.dryRun ? '(dry run: nothing was changed)\n' : `(${r.dnsWrites} CoreDNS write)\n`}`);
      }),
    ['acmg sync --dry-run', 'acmg sync', 'acmg sync --watch --leader-elect --health-port 9440'],
  );
}
