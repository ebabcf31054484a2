// Where output goes. Machine-readable results go to stdout; progress, warnings and errors to stderr.
import { usageError } from '../errors.js';
import { toJson, toYaml } from '../render/serialize.js';

export type OutputFormat = 'text' | 'yaml' | 'json';

export function parseOutputFormat(value: string | undefined, allowed: OutputFormat[], fallback: OutputFormat): OutputFormat {
  if (value === undefined) return fallback;
  if ((allowed as string[]).includes(value)) return value as OutputFormat;
  throw usageError(`invalid --output "${value}": use one of ${allowed.join(', ')}`);
}

export function writeStdout(text: string): void {
  process.stdout.write(text);
}

export function printStructured(value: unknown, format: 'yaml' | 'json'): void {
  writeStdout(format === 'json' ? toJson(value) : toYaml(value));
}
