// Shared runner for fast-check properties inside tap tests: on failure it reports the
// counterexample and a one-line replay command (FC_SEED / FC_PATH pin the failing run).

import fc from 'fast-check';

interface Asserter {
  notOk(value: unknown, message: string): unknown;
}

export function propertyChecker(
  file: string,
): <T>(t: Asserter, prop: fc.IProperty<T>, numRuns: number) => void {
  return (t, prop, numRuns) => {
    const seed = process.env.FC_SEED;
    const path = process.env.FC_PATH;
    const details = fc.check(prop, {
      numRuns,
      ...(seed === undefined ? {} : { seed: Number(seed) }),
      ...(path === undefined ? {} : { path }),
    });
    const replay = `FC_SEED=${details.seed} FC_PATH=${details.counterexamplePath ?? ''} npx tap ${file}`;
    const cause =
      details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    t.notOk(
      details.failed,
      details.failed ? `${cause}\n${fc.defaultReportMessage(details)}\nreplay: ${replay}` : 'held',
    );
  };
}
