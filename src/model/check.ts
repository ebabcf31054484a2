export type CheckStatus = 'ok' | 'fail' | 'warn';

/** A check's outcome, as data (printed as a checklist, or as JSON). */
export interface CheckResult {
  category: string;
  check: string;
  status: CheckStatus;
  detail?: string;
  hint?: string;
}

export const failed = (rs: CheckResult[]) => rs.filter((r) => r.status === 'fail');
