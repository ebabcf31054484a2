// Signals. Ctrl-C, SIGTERM and SIGHUP always stop acmg: in the middle of a change it says what state
// the cluster is in and how to go on (acmg's journal makes both ways forward safe), then exits
// 128 + the signal's number like any interrupted command. A controller stops gracefully instead,
// within a bounded time; a second signal ends it at once.
import { log } from './log.js';

const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
type Handled = keyof typeof SIGNALS;

let message: string | undefined;
let graceful: { stop: () => void; graceMs: number } | undefined;
let stopping = false;

/** What to tell the user if a signal arrives from now on (the command is changing the cluster). */
export function onInterrupt(msg: string): void {
  message = msg;
}

/** A long-running command (sync --watch) stops itself on the first signal, within graceMs. */
export function stopGracefully(stop: () => void, graceMs: number): void {
  graceful = { stop, graceMs };
}

export function exitCodeFor(signal: Handled): number {
  return 128 + SIGNALS[signal];
}

function handle(signal: Handled): void {
  if (graceful && !stopping) {
    stopping = true;
    log.info(`${signal}: stopping (again to stop at once)`);
    graceful.stop();
    setTimeout(() => {
      log.warn(`did not stop within ${graceful!.graceMs / 1000}s of ${signal}: exiting`);
      process.exit(exitCodeFor(signal));
    }, graceful.graceMs).unref();
    return;
  }
  process.stderr.write('\n');
  log.warn(`interrupted (${signal})${message ? `: ${message}` : ''}`);
  process.exit(exitCodeFor(signal));
}

/** Installed once by the entry point, before any command runs. */
export function installSignalHandlers(): void {
  for (const s of Object.keys(SIGNALS) as Handled[]) process.on(s, handle);
}
