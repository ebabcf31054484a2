// Starts the local control plane once per e2e run, or reuses a running one. No skip path: if the
// cluster cannot start, this throws and the whole run fails.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export default async function globalSetup() {
  const hack = join(process.cwd(), 'hack');
  const wasUp = spawnSync('bash', [join(hack, 'cluster-status.sh')], { stdio: 'ignore' }).status === 0;
  if (wasUp) return;
  const r = spawnSync('bash', [join(hack, 'cluster-up.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0)
    throw new Error(`hack/cluster-up.sh failed (exit ${r.status}); the e2e tests need the local control plane (logs: $ACMG_CLUSTER_DIR/logs)`);
  // Read by global-teardown (same process): stop only what this run started.
  process.env.ACMG_E2E_STARTED_CLUSTER = '1';
}
