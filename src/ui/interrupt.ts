// Ctrl-C in the middle of a change: say what state the cluster is in and how to go on, then exit
// 130 like any interrupted command. acmg's journal makes both ways forward safe.
import { log } from './log.js';

export function onInterrupt(message: string): void {
  const handler = (signal: NodeJS.Signals) => {
    process.stderr.write('\n');
    log.warn(`interrupted (${signal}): ${message}`);
    process.exit(130);
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}
