import type { Command } from 'commander';
import { palette } from '../ui/color.js';
import { parseOutputFormat, printStructured, writeStdout } from '../ui/output.js';
import { mentionSelf } from '../ui/self-name.js';
import { renderTable } from '../ui/table.js';
import { withExamples, connectFrom } from './common.js';

export function registerStatus(program: Command): void {
  withExamples(
    program
      .command('status')
      .description('show what acmg installed, gateway readiness, DNS layout and migrated services')
      .option('-n, --namespace <ns>', "install namespace (default: found from acmg's state)")
      .option('-o, --output <format>', 'text | json | yaml')
      .action(async (opts: { namespace?: string; output?: string }, cmd: Command) => {
        const fmt = parseOutputFormat(opts.output, ['text', 'json', 'yaml'], 'text');
        const { collectStatus } = await import('../ops/status.js');
        const r = await collectStatus(await connectFrom(cmd), opts.namespace);
        if (fmt !== 'text') return printStructured(r, fmt);
        const c = palette(process.stdout);
        if (!r.installed) {
          writeStdout(mentionSelf('acmg is not installed in this cluster (no state found).\nInstall it with: acmg install\n'));
          return;
        }
        const lines = [
          `acmg ${r.version}, profile ${r.profile}, namespace ${r.namespace}${r.inProgress ? c.yellow(' (install in progress or interrupted)') : ''}`,
        ];
        if (r.gateway)
          lines.push(
            `gateway   ${r.gateway.name}: ${r.gateway.ready ? c.green('ready') : c.red('not ready')} (${r.gateway.detail}), ClusterIP ${r.gateway.clusterIP ?? '-'}, ports ${r.gateway.ports.map((p) => `${p.name}:${p.port}`).join(', ')}`,
          );
        if (r.dns)
          lines.push(
            r.dns.error
              ? `dns       ${c.red('error')}: ${r.dns.error}`
              : `dns       ${r.dns.layout}; domain ${r.dns.clusterDomain}; ${r.dns.entries} entr${r.dns.entries === 1 ? 'y' : 'ies'}${r.dns.tampered.length ? c.red(` (edited by hand: ${r.dns.tampered.join('; ')})`) : ''}`,
          );
        writeStdout(lines.join('\n') + '\n\n');
        if (r.services.length === 0) writeStdout(mentionSelf('No services are migrated yet. Next: acmg migrate SERVICE -n NAMESPACE --keep-service\n'));
        else
          writeStdout(
            renderTable(
              ['NAMESPACE', 'SERVICE', 'APPROACH', 'PHASE', 'DNS'],
              r.services.map((s) => [
                s.namespace,
                s.service,
                s.origin ? `${s.approach} (${s.origin})` : s.approach,
                s.phase,
                s.dns === 'switched' ? c.green(s.dns) : c.red(s.dns),
              ]),
            ),
          );
        // Declarative migrations: why a marked service is not migrated (or an unmarked one not rolled back).
        if (r.declarative?.length)
          writeStdout(
            `\n${renderTable(
              ['NAMESPACE', 'SERVICE', 'MARKED', 'RETRY', 'NOT DONE BECAUSE'],
              r.declarative.map((d) => [
                d.namespace,
                d.service,
                d.want === 'rollback' ? 'unmarked (roll back)' : (d.want ?? (d.held ? '-' : '?')),
                d.retryAt ? `${d.retryAt} (attempt ${d.attempts})` : d.held ? 'when that run ends' : 'when the mark is fixed',
                c.red(d.reason),
              ]),
            )}`,
          );
      }),
    ['acmg status', 'acmg status -o json'],
  );
}
