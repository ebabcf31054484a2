// Golden-file helper: compares with test/golden/<name>; UPDATE_GOLDEN=1 rewrites the file.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const GOLDEN_DIR = join(process.cwd(), 'test', 'golden');

export function expectGolden(name: string, actual: string): void {
  const file = join(GOLDEN_DIR, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  if (!existsSync(file)) throw new Error(`golden file ${file} is missing; run UPDATE_GOLDEN=1 npm run test:unit`);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}
