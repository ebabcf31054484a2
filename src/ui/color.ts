// Colour only where a person reads it (see terminal.ts for every setting that turns it off).
import { Chalk, type ChalkInstance } from 'chalk';
import { wantsColor } from './terminal.js';

let enabled: boolean | undefined;

export function colorEnabled(stream: NodeJS.WriteStream = process.stderr): boolean {
  if (enabled !== undefined) return enabled;
  return wantsColor(stream.isTTY);
}

/** Called once from the CLI's global options (--no-color). */
export function setColor(on: boolean | undefined): void {
  enabled = on;
}

export function palette(stream: NodeJS.WriteStream = process.stderr): ChalkInstance {
  return new Chalk({ level: colorEnabled(stream) ? 1 : 0 });
}
