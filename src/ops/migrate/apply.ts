// acmg migrate, the apply: runs the plan's steps in order; a failure rolls this run back from its
// journal, unless the plan says to leave it (--no-rollback). Every problem of the cause is kept.
import { AcmgError, ExitCode } from '../../errors.js';
import { explainApiError, type KubeApi } from '../../kube/api.js';
import { rollbackMigrations } from '../rollback.js';
import { keyOf, type MigratePlan } from './plan.js';
import { migrationSteps, type MigrateRuntime, type StepRun } from './steps.js';

export interface MigrateResult {
  migrated: string[];
  alreadyMigrated: string[];
  gatewayIP: string;
  /** What the migrated names answer now: each namespace's door on the gateway. */
  addresses: Record<string, string>;
  /** ConfigMap writes to cluster DNS made by this run (the design wants exactly one). */
  dnsWrites: number;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export async function applyMigration(kube: KubeApi, plan: MigratePlan, rt: MigrateRuntime): Promise<MigrateResult> {
  const run: StepRun = { kube, plan, rt, keys: plan.candidates.map(keyOf), dnsWrites: 0, addresses: {} };
  try {
    for (const step of migrationSteps(plan)) {
      await step.run(run);
      await rt.afterStep?.(step.name);
    }
    return { migrated: run.keys, alreadyMigrated: plan.alreadyMigrated, gatewayIP: plan.gatewayIP, addresses: run.addresses, dnsWrites: run.dnsWrites };
  } catch (e) {
    // Every problem of the cause is kept (a DNS wait reports one per name), and its exit code.
    const cause = explainApiError(e);
    const code = cause instanceof AcmgError ? cause.code : ExitCode.Cluster;
    const problems = cause instanceof AcmgError ? cause.problems : [message(cause)];
    if (plan.onFailure === 'leave') {
      throw new AcmgError(
        code,
        [`migration failed: ${problems[0]}`, ...problems.slice(1)],
        'left as is (--no-rollback); `acmg migrate` again converges, `acmg rollback` undoes it',
      );
    }
    try {
      await rt.task('roll back this run', () =>
        rollbackMigrations(kube, plan.install, run.keys, {
          resolver: rt.resolver,
          dnsTimeoutMs: rt.dnsTimeoutMs,
          task: rt.task,
          // This run's records only: one another run made (the record step refused it) stays.
          only: (m) => m.origin === plan.origin,
        }),
      );
    } catch (rollbackError) {
      throw new AcmgError(
        code,
        [`migration failed: ${problems[0]}`, ...problems.slice(1), `the automatic rollback failed too: ${message(explainApiError(rollbackError))}`],
        "what was done is journaled in acmg's state: run `acmg rollback` for these services to finish undoing it, or `acmg migrate` again to finish the migration",
      );
    }
    throw new AcmgError(
      code,
      [`migration failed and was rolled back: ${problems[0]}`, ...problems.slice(1)],
      cause instanceof AcmgError ? cause.hint : undefined,
    );
  }
}
