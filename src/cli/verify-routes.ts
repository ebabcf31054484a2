// acmg verify-routes: the CI gate beside verify-dns, for what the gateway serves: every name of every
// migrated service routed, as istiod configures the gateway's proxies, to where acmg's route sends it.
import type { Command } from 'commander';
import { ExitCode, usageError } from '../errors.js';
import { junitReport } from '../plan/junit.js';
import { palette } from '../ui/color.js';
import { log } from '../ui/log.js';
import { parseOutputFormat, printStructured, writeStdout } from '../ui/output.js';
import { task } from '../ui/progress.js';
import { renderTable } from '../ui/table.js';
import { connectFrom, withExamples } from './common.js';
import { requireWritableFile, writeReport } from './preflight.js';

interface VerifyRoutesOptions {
  namespace?: string;
  istiod?: string;
  output?: string;
  junit?: string;
}

export function registerVerifyRoutes(program: Command): void {
  withExamples(
    program
      .command('verify-routes [service...]')
      .description("check that the gateway routes every name of the migrated services where acmg's route sends them (exit 1 if not)")
      .option('-n, --namespace <ns>', 'namespace of the named services (default: default), or only migrated services there')
      .option('--istiod <url>', "istiod's monitoring port (15014), e.g. after kubectl -n istio-system port-forward deploy/istiod 15014")
      .option('-o, --output <format>', 'text | json')
      .option('--junit <file>', 'also write a JUnit XML report (one test case per name and gateway proxy)')
      .action(async (services: string[], opts: VerifyRoutesOptions, cmd: Command) => {
        const fmt = parseOutputFormat(opts.output, ['text', 'json'], 'text');
        if (!opts.istiod)
          throw usageError(
            "verify-routes needs --istiod: the URL of istiod's monitoring port, where it shows the configuration it gives each gateway proxy",
            'kubectl -n istio-system port-forward deploy/istiod 15014 &  then: acmg verify-routes --istiod http://127.0.0.1:15014',
          );
        let base: URL;
        try {
          base = new URL(opts.istiod);
          if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('not http');
        } catch {
          throw usageError(`invalid --istiod "${opts.istiod}": use an http:// URL such as http://127.0.0.1:15014`);
        }
        if (opts.junit) requireWritableFile(opts.junit, '--junit');
        const { istiodAt, verifyRoutes } = await import('../ops/verify-routes.js');
        const kube = await connectFrom(cmd);
        const t0 = Date.now();
        const r = await task(`read the gateway's routes from istiod (${base.origin})`, () =>
          verifyRoutes(kube, istiodAt(base.toString()), { services, namespace: opts.namespace }),
        );
        const seconds = (Date.now() - t0) / 1000;
        if (fmt === 'json') printStructured(r, 'json');
        else if (r.results.length === 0) log.warn('no migrated services to verify');
        else {
          const c = palette(process.stdout);
          writeStdout(
            renderTable(
              ['SERVICE', 'NAME', 'PORT', 'PROXY', 'ROUTED TO', 'RESULT'],
              r.results.map((x) => [
                `${x.namespace}/${x.service}`,
                x.name,
                x.port ? `${x.port} (listener ${x.listenerPort})` : '-',
                x.proxy,
                x.clusters.join(',') || '-',
                x.pass ? c.green('pass') : c.red(`FAIL: ${x.outcome}: ${x.why}`),
              ]),
            ),
          );
          const failed = r.results.filter((x) => !x.pass).length;
          writeStdout(
            `\n${r.passed ? c.green(`all ${r.results.length} checks passed`) : c.red(`${failed} of ${r.results.length} checks failed`)} (${r.proxies.length} gateway prox${r.proxies.length === 1 ? 'y' : 'ies'}, ${seconds.toFixed(1)}s)\n`,
          );
        }
        if (opts.junit) {
          const report = junitReport(
            'acmg verify-routes',
            r.results.map((x) => ({
              classname: `acmg.verify-routes.${x.namespace}.${x.service}`,
              name: `${x.name} port ${x.port} via ${x.proxy}`,
              ...(x.pass ? {} : { failure: { message: `${x.outcome}: ${x.why}`, detail: `routed to ${x.clusters.join(', ') || 'nothing'}` } }),
            })),
            seconds,
          );
          writeReport(opts.junit, '--junit', report);
        }
        if (!r.passed) process.exitCode = ExitCode.CheckFailed;
      }),
    [
      'acmg verify-routes --istiod http://127.0.0.1:15014',
      'acmg verify-routes helloworld -n default --istiod http://127.0.0.1:15014 -o json',
      'acmg verify-routes --istiod http://127.0.0.1:15014 --junit routes-report.xml',
    ],
  );
}
