// Shared runner for fast-check properties inside tap tests: on failure it reports the
// counterexample and a one-line replay command (FC_SEED / FC_PATH pin the failing run).

import fc from 'fast-check';

interface Asserter {
  notOk(value: unknown, message: string): unknown;
}

export interface AsyncCheckOptions {
  /**
   * Stop at the first failure instead of shrinking it, for properties whose runs are expensive
   * (a real server): FC_SHRINK=1 shrinks anyway when replaying.
   */
  readonly endOnFailure?: boolean;
}

function parameters<T>(numRuns: number, endOnFailure: boolean): fc.Parameters<T> {
  const seed = process.env.FC_SEED;
  const path = process.env.FC_PATH;
  return {
    numRuns,
    ...(seed === undefined ? {} : { seed: Number(seed) }),
    ...(path === undefined ? {} : { path }),
    ...(endOnFailure && process.env.FC_SHRINK !== '1' ? { endOnFailure: true } : {}),
  };
}

function report<T>(t: Asserter, file: string, details: fc.RunDetails<T>): void {
  const replay = `FC_SEED=${details.seed} FC_PATH=${details.counterexamplePath ?? ''} npx tap ${file}`;
  const cause =
    details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  t.notOk(
    details.failed,
    details.failed ? `${cause}\n${fc.defaultReportMessage(details)}\nreplay: ${replay}` : 'held',
  );
}

export function propertyChecker(
  file: string,
): <T>(t: Asserter, prop: fc.IProperty<T>, numRuns: number) => void {
  return (t, prop, numRuns) => report(t, file, fc.check(prop, parameters(numRuns, false)));
}

/** The same for async properties (each run may await I/O). */
export function asyncPropertyChecker(
  file: string,
): <T>(t: Asserter, prop: fc.IAsyncProperty<T>, numRuns: number, o?: AsyncCheckOptions) => Promise<void> {
  return async (t, prop, numRuns, o = {}) =>
    report(t, file, await fc.check(prop, parameters(numRuns, o.endOnFailure === true)));
}
