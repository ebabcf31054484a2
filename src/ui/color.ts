// Colour only where a person reads it: a TTY, without NO_COLOR, without --no-color.
import { Chalk, type ChalkInstance } from 'chalk';

let enabled: boolean | undefined;

export function colorEnabled(stream: NodeJS.WriteStream = process.stderr): boolean {
  if (enabled !== undefined) return enabled;
  if ('NO_COLOR' in process.env && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY);
}

/** Called once from the CLI's global options (--no-color). */
export function setColor(on: boolean | undefined): void {
  enabled = on;
}

export function palette(stream: NodeJS.WriteStream = process.stderr): ChalkInstance {
  return new Chalk({ level: colorEnabled(stream) ? 1 : 0 });
}
