// Progress on stderr: an ora spinner per task on a usable terminal, plain timestamped lines
// otherwise (CI, pipes, TERM=dumb, a TTY without a width).
import { colorEnabled, palette } from './color.js';
import { log } from './log.js';
import { wantsSpinner } from './terminal.js';

export async function task<T>(title: string, fn: (update: (text: string) => void) => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
  if (wantsSpinner(process.stderr)) {
    const { default: ora } = await import('ora');
    // discardStdin off: ora would put stdin in raw mode and swallow Ctrl-C from a prompt after it.
    const spinner = ora({ text: title, stream: process.stderr, color: 'cyan', isEnabled: true, discardStdin: false });
    if (!colorEnabled()) spinner.color = 'white';
    spinner.start();
    try {
      const r = await fn((text) => (spinner.text = `${title}: ${text}`));
      spinner.succeed(`${title} ${palette().gray(`(${elapsed()})`)}`);
      return r;
    } catch (e) {
      spinner.fail(title);
      throw e;
    }
  }
  log.info(`… ${title}`);
  let last = '';
  try {
    const r = await fn((text) => {
      if (text !== last) log.info(`  ${title}: ${text}`);
      last = text;
    });
    log.info(`✔ ${title} (${elapsed()})`);
    return r;
  } catch (e) {
    log.info(`✖ ${title} (${elapsed()})`);
    throw e;
  }
}
