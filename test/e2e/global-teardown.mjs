import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// Stop the cluster only if this run started it, and not when asked to keep it (ACMG_KEEP_CLUSTER=1).
export default async function globalTeardown() {
  if (process.env.ACMG_E2E_STARTED_CLUSTER === '1' && process.env.ACMG_KEEP_CLUSTER !== '1') {
    spawnSync('bash', [join(process.cwd(), 'hack', 'cluster-down.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  }
}
