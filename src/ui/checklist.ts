// Prints check results like `linkerd check`: grouped by category, √/×/‼/○ (ok, failed, warning,
// skipped) per check, hints under failures.
import type { CheckResult } from '../model/check.js';
import { palette } from './color.js';

export function renderChecklist(results: CheckResult[], stream: NodeJS.WriteStream = process.stdout): string {
  const c = palette(stream);
  const lines: string[] = [];
  let category = '';
  for (const r of results) {
    if (r.category !== category) {
      if (category) lines.push('');
      category = r.category;
      lines.push(c.bold(category), '-'.repeat(category.length));
    }
    const mark = r.status === 'ok' ? c.green('√') : r.status === 'warn' ? c.yellow('‼') : r.status === 'skipped' ? c.gray('○') : c.red('×');
    lines.push(`${mark} ${r.check}${r.detail ? c.gray(`: ${r.detail}`) : ''}`);
    if (r.hint && r.status !== 'ok') lines.push(`    ${c.cyan('hint:')} ${r.hint}`);
  }
  const fails = results.filter((r) => r.status === 'fail').length;
  const warns = results.filter((r) => r.status === 'warn').length;
  const skips = results.filter((r) => r.status === 'skipped').length;
  const others = [warns ? `${warns} ${warns === 1 ? 'warning' : 'warnings'}` : '', skips ? `${skips} skipped` : ''].filter(Boolean);
  lines.push(
    '',
    fails
      ? c.red(`Status check results are × (${[`${fails} failed`, ...others].join(', ')})`)
      : c.green(`Status check results are √${others.length ? ` (${others.join(', ')})` : ''}`),
  );
  return lines.join('\n') + '\n';
}
