import { clusterUp } from './cluster.js';

export default async function globalSetup(): Promise<void> {
  const started = clusterUp();
  process.env.ACMG_E2E_STARTED_CLUSTER = started ? '1' : '';
}
