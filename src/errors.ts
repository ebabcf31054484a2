// Exit codes are part of acmg's contract with CI scripts (documented in README.md).
export const ExitCode = {
  Ok: 0,
  /** A check failed: precheck, verify-dns mismatch, a diff that found differences. */
  CheckFailed: 1,
  /** Bad usage or bad input: flags, profiles, overlays, values, unknown objects. */
  Usage: 2,
  /** The cluster or the network failed: API errors, timeouts, unreachable nameserver. */
  Cluster: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error that acmg reports to the user as one or more lines, and exits with `code`. */
export class AcmgError extends Error {
  readonly code: ExitCode;
  /** Each problem on its own line; the first is also `message`. */
  readonly problems: string[];
  /** Optional hint telling how to fix it. */
  readonly hint?: string;

  constructor(code: ExitCode, problems: string | string[], hint?: string) {
    const list = Array.isArray(problems) ? problems : [problems];
    super(list[0] ?? 'unknown error');
    this.name = 'AcmgError';
    this.code = code;
    this.problems = list;
    this.hint = hint;
  }
}

export const usageError = (problems: string | string[], hint?: string) => new AcmgError(ExitCode.Usage, problems, hint);
export const clusterError = (problems: string | string[], hint?: string) => new AcmgError(ExitCode.Cluster, problems, hint);
export const checkFailed = (problems: string | string[], hint?: string) => new AcmgError(ExitCode.CheckFailed, problems, hint);
