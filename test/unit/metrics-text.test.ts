// The controller's /metrics body: Prometheus text format 0.0.4, each sample after its # HELP and
// # TYPE lines (a _total counter, anything else a gauge).
import { metricsText } from '../../src/ops/metrics-text.js';

test('each metric has # HELP and # TYPE lines; _total is a counter, the rest gauges', () => {
  const text = metricsText([
    { name: 'acmg_sync_reconciles_total', help: 'Reconciles run.', value: 3 },
    { name: 'acmg_sync_leader', help: 'A back\\slash\nand a newline.', value: 1 },
  ]);
  expect(text).toBe(
    [
      '# HELP acmg_sync_reconciles_total Reconciles run.',
      '# TYPE acmg_sync_reconciles_total counter',
      'acmg_sync_reconciles_total 3',
      '# HELP acmg_sync_leader A back\\\\slash\\nand a newline.',
      '# TYPE acmg_sync_leader gauge',
      'acmg_sync_leader 1',
      '',
    ].join('\n'),
  );
});
