// The CLI's exit codes (one per cause a script may branch on), the protocol error code each one
// reports, and CliError, which carries one to the top.
import type { ErrorCode } from "@tailwire/protocol";

/**
 * The exit codes of `tailwire logs` (and of the other commands where they apply): one per cause a
 * script may want to branch on. This table is the single source: `--help` and the README print it.
 */
export const EXIT = {
  OK: 0,
  /** An unexpected failure (a bug, a log source error on the compute node). */
  INTERNAL: 1,
  /** Bad command line: unknown option, invalid value, missing argument. */
  USAGE: 2,
  /** The compute node has no logs for this execution. */
  NOT_FOUND: 3,
  /** No compute node with this id is connected (NATS "no responders"), or it did not accept in time. */
  NODE_UNREACHABLE: 4,
  /** The compute node stopped heartbeating during the stream (died, froze, partitioned). */
  COMPUTE_NODE_LOST: 5,
  /** The compute node shut down gracefully during the stream (GOING_AWAY). */
  GOING_AWAY: 6,
  /** The compute node refused the request for a limit (too many streams, rate, tail too large). */
  REFUSED: 7,
  /** The stream broke in transit (protocol error, sequence gap, unsupported version, payload). */
  STREAM_BROKEN: 8,
  /** The NATS server could not be reached or refused the credentials, or was lost for longer than the reconnect window. */
  NATS_UNAVAILABLE: 9,
  /** This requester lost its streams by its own side's doing: it was stalled, or another requester uses its id. */
  REQUESTER_LOST: 10,
  /** With --exit-code: the stream ended but the execution's exit code is unknown (still running, killed by a signal). */
  NO_EXIT_CODE: 11,
  /** Interrupted by SIGINT (Ctrl-C): the stream was cancelled cleanly. */
  SIGINT: 130,
  /** Terminated by SIGTERM: the stream was cancelled cleanly. */
  SIGTERM: 143,
} as const;

export type ExitName = keyof typeof EXIT;

/** Every protocol error code mapped to the exit code that reports it (exhaustive by type). */
export const EXIT_BY_ERROR_CODE = {
  BAD_REQUEST: "USAGE",
  UNSUPPORTED_VERSION: "STREAM_BROKEN",
  PROTOCOL_ERROR: "STREAM_BROKEN",
  EXECUTION_NOT_FOUND: "NOT_FOUND",
  EXECUTION_AMBIGUOUS: "USAGE",
  NODE_UNREACHABLE: "NODE_UNREACHABLE",
  ACCEPT_TIMEOUT: "NODE_UNREACHABLE",
  COMPUTE_NODE_LOST: "COMPUTE_NODE_LOST",
  REQUESTER_LOST: "REQUESTER_LOST",
  CANCELLED: "SIGINT",
  GOING_AWAY: "GOING_AWAY",
  TOO_MANY_STREAMS: "REFUSED",
  TOO_MANY_REQUESTER_STREAMS: "REFUSED",
  TAIL_TOO_LARGE: "REFUSED",
  DUPLICATE_STREAM: "STREAM_BROKEN",
  RATE_LIMITED: "REFUSED",
  PAYLOAD_TOO_LARGE: "STREAM_BROKEN",
  SEQUENCE_GAP: "STREAM_BROKEN",
  RESUME_EXHAUSTED: "STREAM_BROKEN",
  INTERNAL: "INTERNAL",
} as const satisfies Record<ErrorCode, ExitName>;

/** One line per exit code, for `--help` and the README. */
export const EXIT_CODE_ROWS: readonly { code: number; name: ExitName; meaning: string }[] = [
  { code: EXIT.OK, name: "OK", meaning: "the stream ended normally (End frame)" },
  { code: EXIT.INTERNAL, name: "INTERNAL", meaning: "unexpected failure (INTERNAL)" },
  {
    code: EXIT.USAGE,
    name: "USAGE",
    meaning: "bad usage: unknown option, invalid value (BAD_REQUEST)",
  },
  {
    code: EXIT.NOT_FOUND,
    name: "NOT_FOUND",
    meaning: "the compute node has no such execution (EXECUTION_NOT_FOUND)",
  },
  {
    code: EXIT.NODE_UNREACHABLE,
    name: "NODE_UNREACHABLE",
    meaning: "no such compute node, or it did not answer (NODE_UNREACHABLE, ACCEPT_TIMEOUT)",
  },
  {
    code: EXIT.COMPUTE_NODE_LOST,
    name: "COMPUTE_NODE_LOST",
    meaning: "the compute node died or froze during the stream (COMPUTE_NODE_LOST)",
  },
  {
    code: EXIT.GOING_AWAY,
    name: "GOING_AWAY",
    meaning: "the compute node shut down during the stream (GOING_AWAY)",
  },
  {
    code: EXIT.REFUSED,
    name: "REFUSED",
    meaning: "refused by a compute node limit (TOO_MANY_*, RATE_LIMITED, TAIL_TOO_LARGE)",
  },
  {
    code: EXIT.STREAM_BROKEN,
    name: "STREAM_BROKEN",
    meaning: "broken in transit (PROTOCOL_ERROR, SEQUENCE_GAP, UNSUPPORTED_VERSION, ...)",
  },
  {
    code: EXIT.NATS_UNAVAILABLE,
    name: "NATS_UNAVAILABLE",
    meaning: "cannot connect to NATS (down, bad credentials), or lost it past --reconnect-window",
  },
  {
    code: EXIT.REQUESTER_LOST,
    name: "REQUESTER_LOST",
    meaning: "this requester was stalled, or another one uses its --requester-id (REQUESTER_LOST)",
  },
  {
    code: EXIT.NO_EXIT_CODE,
    name: "NO_EXIT_CODE",
    meaning: "with --exit-code: the execution has no exit code (still running, killed by a signal)",
  },
  { code: EXIT.SIGINT, name: "SIGINT", meaning: "interrupted (Ctrl-C): the stream was cancelled" },
  {
    code: EXIT.SIGTERM,
    name: "SIGTERM",
    meaning: "terminated (SIGTERM): the stream was cancelled",
  },
];

export function exitCodeOf(code: ErrorCode): number {
  return EXIT[EXIT_BY_ERROR_CODE[code]];
}

/** The table as text, for `--help`. */
export function exitCodeTable(): string {
  return EXIT_CODE_ROWS.map(
    (row) => `  ${String(row.code).padStart(3)}  ${row.name.padEnd(18)} ${row.meaning}`,
  ).join("\n");
}

/** An error that carries the exit code the CLI ends with, and a one-line message for stderr. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(exitCode: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.exitCode = exitCode;
  }
}
