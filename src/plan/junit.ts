// A JUnit XML report (CI systems show it as test results): one suite, a test case per check.
export interface JUnitCase {
  classname: string;
  name: string;
  /** Absent for a passing case. */
  failure?: { message: string; detail: string };
}

const xml = (s: string) => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);

export function junitReport(suite: string, cases: JUnitCase[], seconds: number): string {
  const failures = cases.filter((c) => c.failure).length;
  const body = cases
    .map((c) =>
      c.failure
        ? `    <testcase classname="${xml(c.classname)}" name="${xml(c.name)}">\n      <failure message="${xml(c.failure.message)}">${xml(c.failure.detail)}</failure>\n    </testcase>`
        : `    <testcase classname="${xml(c.classname)}" name="${xml(c.name)}"/>`,
    )
    .join('\n');
  const time = seconds.toFixed(3);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites tests="${cases.length}" failures="${failures}" time="${time}">\n  <testsuite name="${xml(suite)}" tests="${cases.length}" failures="${failures}" time="${time}">\n${body}\n  </testsuite>\n</testsuites>\n`;
}
