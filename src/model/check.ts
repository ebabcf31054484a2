/**
 * `skipped`: not asked, because a check it needs failed (its detail says which, "skipped: needs
 * X") or what it needs does not exist yet. Not a pass: a skip for a failed need comes with that
 * failure, which fails the run.
 */
export type CheckStatus = 'ok' | 'fail' | 'warn' | 'skipped';

/** A check's outcome, as data (printed as a checklist, or as JSON). */
export interface CheckResult {
  category: string;
  check: string;
  status: CheckStatus;
  detail?: string;
  hint?: string;
}

export const failed = (rs: CheckResult[]) => rs.filter((r) => r.status === 'fail');
