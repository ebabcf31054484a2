// The controller's /metrics body in the Prometheus text format 0.0.4: each sample is preceded by
// its # HELP and # TYPE lines, so that a scraper knows a counter (which it may rate()) from a gauge.
// The type follows the name (Prometheus's own convention): a name ending in _total is a counter,
// any other a gauge; so a new metric cannot be given the wrong type by hand.

export interface Metric {
  name: string;
  help: string;
  value: number | string;
}

/** The content type of the text format this writes. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function metricsText(metrics: readonly Metric[]): string {
  const lines: string[] = [];
  for (const m of metrics) {
    // HELP text escapes backslash and newline (the format's only escapes there).
    lines.push(`# HELP ${m.name} ${m.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
    lines.push(`# TYPE ${m.name} ${m.name.endsWith('_total') ? 'counter' : 'gauge'}`);
    lines.push(`${m.name} ${m.value}`);
  }
  return `${lines.join('\n')}\n`;
}
