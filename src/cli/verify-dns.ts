// acmg verify-dns: the CI gate that proves cluster DNS sends migrated services to the gateway.
import type { Command } from 'commander';
import { ExitCode, usageError } from '../errors.js';
import type { VerifyResult } from '../plan/verify.js';
import { toJUnit } from '../plan/verify.js';
import { palette } from '../ui/color.js';
import { parseDuration } from '../input/duration.js';
import { log } from '../ui/log.js';
import { parseOutputFormat, printStructured, writeStdout } from '../ui/output.js';
import { task } from '../ui/progress.js';
import { renderTable } from '../ui/table.js';
import { withExamples, connectFrom } from './common.js';
import { parseNameserver, requireWritableFile, writeReport } from './preflight.js';

interface VerifyOptions {
  namespace?: string;
  allNamespaces?: boolean;
  nameserver?: string;
  wait?: string;
  output?: string;
  junit?: string;
  concurrency: string;
}

export function registerVerifyDns(program: Command): void {
  withExamples(
    program
      .command('verify-dns [service...]')
      .description('check that cluster DNS answers the gateway for migrated services (exit 1 on a mismatch)')
      .option('-n, --namespace <ns>', 'namespace of the named services (default: default), or only migrated services there')
      .option('-A, --all-namespaces', 'every migrated service (the default without names)')
      .option('--nameserver <host:port>', 'ask this nameserver directly (UDP, TCP on truncation) instead of a port-forward to CoreDNS')
      .option('--wait <duration>', 'retry until every check passes or this much time has passed (CoreDNS reload takes up to ~2m)')
      .option('-o, --output <format>', 'text | json')
      .option('--junit <file>', 'also write a JUnit XML report (one test case per name checked)')
      .option('--concurrency <n>', 'queries in flight at once', '64')
      .action(async (services: string[], opts: VerifyOptions, cmd: Command) => {
        const fmt = parseOutputFormat(opts.output, ['text', 'json'], 'text');
        const waitMs = opts.wait ? parseDuration(opts.wait, '--wait') : 0;
        const concurrency = Number(opts.concurrency);
        if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1024)
          throw usageError(`invalid --concurrency "${opts.concurrency}": use a whole number from 1 to 1024`);
        if (opts.allNamespaces && (opts.namespace || services.length)) throw usageError('-A checks every migrated service; do not combine it with -n or names');
        const nameserver = parseNameserver(opts.nameserver);
        if (opts.junit) requireWritableFile(opts.junit, '--junit');
        const { runVerification, verifyTargets } = await import('../ops/verify-dns.js');
        const { resolverFor } = await import('../ops/resolver-for.js');
        const kube = await connectFrom(cmd);
        const { targets, domain, dnsNamespace } = await verifyTargets(kube, { services, namespace: opts.namespace, allNamespaces: opts.allNamespaces });
        if (targets.length === 0) {
          log.warn('no migrated services to verify (name services to check them explicitly)');
          if (fmt === 'json') printStructured({ passed: true, results: [] }, 'json');
          return;
        }
        const resolver = await resolverFor(kube, { nameserver, dnsNamespace });
        const t0 = Date.now();
        let results: VerifyResult[];
        try {
          results = await task(`verify DNS for ${targets.length} service(s) via ${resolver.describe}`, async (update) => {
            const deadline = Date.now() + waitMs;
            for (;;) {
              const r = await runVerification(resolver, targets, domain, concurrency);
              const failing = r.filter((x) => !x.pass).length;
              if (failing === 0 || Date.now() >= deadline) return r;
              update(`${failing} check(s) failing; retrying until ${new Date(deadline).toISOString().slice(11, 19)}`);
              await new Promise((res) => setTimeout(res, 1000));
            }
          });
        } finally {
          await resolver.close();
        }
        const seconds = (Date.now() - t0) / 1000;
        const passed = results.every((r) => r.pass);
        if (fmt === 'json') printStructured({ passed, nameserver: resolver.describe, domain, results }, 'json');
        else {
          const c = palette(process.stdout);
          writeStdout(
            renderTable(
              ['SERVICE', 'NAME', 'FORM', 'EXPECTED', 'GOT', 'RESULT'],
              results.map((r) => [
                `${r.namespace}/${r.service}`,
                r.written,
                r.form,
                r.expected,
                r.got.join(',') || '-',
                r.pass ? c.green('pass') : c.red(`FAIL: ${r.why}`),
              ]),
            ),
          );
          const failed = results.filter((r) => !r.pass);
          writeStdout(
            `\n${passed ? c.green(`all ${results.length} checks passed`) : c.red(`${failed.length} of ${results.length} checks failed`)} (${targets.length} service(s), ${seconds.toFixed(1)}s)\n`,
          );
        }
        // The report is written after the results are shown: a failure here must not hide them.
        if (opts.junit) writeReport(opts.junit, '--junit', toJUnit(results, seconds));
        if (!passed) process.exitCode = ExitCode.CheckFailed;
      }),
    ['acmg verify-dns', 'acmg verify-dns --wait 2m --junit dns-report.xml', 'acmg verify-dns helloworld -n default --nameserver 10.96.0.10:53 -o json'],
  );
}
