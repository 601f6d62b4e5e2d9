// The rules our own implementations do not meet (none since issue 15's fixes landed). The tests
// that run the kit against LogStreamServer, LogStreamClient and the `tailwire` CLI require
// exactly these to fail, so a rule that starts failing, or one listed here that passes, fails them.

/** Compute mode against LogStreamServer (and `tailwire compute`). */
export const EXPECTED_COMPUTE_FAILURES: readonly string[] = [];

/** Requester mode against LogStreamClient (and `tailwire logs`). */
export const EXPECTED_REQUESTER_FAILURES: readonly string[] = [];

/** The expected failures among the rules a run exercised (a run of some scenarios: others N/A). */
export const expectedAmong = (
  expected: readonly string[],
  notRun: (id: string) => boolean,
): string[] => expected.filter((id) => !notRun(id)).sort();

/** Exchanges of the protocol's rejections transcript our LogStreamServer answers otherwise. */
export const EXPECTED_TRANSCRIPT_FAILURES: readonly string[] = [];
