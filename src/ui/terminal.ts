// What kind of terminal stderr is. Decides colour and spinners in one place so that every
// "plain output" setting (NO_COLOR, FORCE_COLOR=0, TERM=dumb, CI, a pipe) is honoured alike.

type Env = Record<string, string | undefined>;

const truthy = (v: string | undefined) => v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';

/** Colour: FORCE_COLOR wins (0 turns it off), then NO_COLOR, TERM=dumb and CI turn it off; else a TTY. */
export function wantsColor(isTTY: boolean | undefined, env: Env = process.env): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb' || truthy(env.CI)) return false;
  return Boolean(isTTY);
}

/**
 * Spinners redraw lines in place, which needs a real terminal with a known width: a TTY that
 * reports 0 columns (`script`, `docker exec -t`, some CI runners) made ora loop forever.
 */
export function wantsSpinner(stream: { isTTY?: boolean; columns?: number }, env: Env = process.env): boolean {
  if (!stream.isTTY || !(Number(stream.columns) > 0)) return false;
  if (env.TERM === 'dumb' || truthy(env.CI)) return false;
  return true;
}
