// The key of a user's rule that cannot hold at the gateway (model/state.ts RuleChange): its object,
// the reason and a fingerprint of the refused part's own content, never its index, so inserting or
// moving other rules leaves what the user accepted at migrate accepted.
import { createHash } from 'node:crypto';
import type { RuleChange } from '../model/state.js';
import { sortKeysDeep } from './serialize.js';

/** subject: "Kind namespace/name"; reason: what kind of refusal; content: the refused part (a rule, a match, a field). */
export function ruleChange(message: string, subject: string, reason: string, content?: unknown): RuleChange {
  const print =
    content === undefined
      ? ''
      : ` ${createHash('sha256')
          .update(JSON.stringify(sortKeysDeep(content)))
          .digest('hex')
          .slice(0, 16)}`;
  return { key: `${subject} ${reason}${print}`, message };
}
