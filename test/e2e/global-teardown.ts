import { clusterDown } from './cluster.js';

// Stop the cluster only if this run started it, and not when asked to keep it for the next run.
export default async function globalTeardown(): Promise<void> {
  if (process.env.ACMG_E2E_STARTED_CLUSTER === '1' && process.env.ACMG_KEEP_CLUSTER !== '1') clusterDown();
}
