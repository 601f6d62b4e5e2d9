/**
 * The error codes and the typed error classes of tailwire. Two tables, as the MCP SDK keeps
 * JSON-RPC codes apart from its own: WIRE codes travel in Error frames (a compute node rejects
 * or ends a stream with one, and another language's implementation must know them); LOCAL codes
 * are raised by the requester itself about what it saw (a lost node, a timeout, a bad frame) and
 * are never sent. Every error carries a code from one of the two, so users branch on a stable
 * string.
 */
type CodeTable = Record<string, { retryable: boolean; description: string }>;

/** Codes a compute node sends in an Error frame (PROTOCOL.md, "Error codes"). */
export const WIRE_ERROR_CODES = {
  BAD_REQUEST: {
    retryable: false,
    description:
      "The request is malformed or violates the schema (a field missing, of the wrong type or out of range).",
  },
  UNSUPPORTED_VERSION: {
    retryable: false,
    description:
      "The message type or its version is not one this node speaks (for example a /v2 message sent to a v1 node).",
  },
  EXECUTION_NOT_FOUND: {
    retryable: false,
    description: "The compute node has no logs for this execution id.",
  },
  GOING_AWAY: {
    retryable: true,
    description: "The compute node is shutting down gracefully and ended the stream.",
  },
  TOO_MANY_STREAMS: {
    retryable: true,
    description: "The compute node already serves as many streams as its limit allows.",
  },
  TOO_MANY_REQUESTER_STREAMS: {
    retryable: true,
    description:
      "This requester already has as many open streams on the compute node as its per-requester limit allows.",
  },
  TAIL_TOO_LARGE: {
    retryable: false,
    description: "The requested tail exceeds the compute node's limit of lines per request.",
  },
  DUPLICATE_STREAM: {
    retryable: false,
    description: "A stream with this id is already open on the compute node.",
  },
  RATE_LIMITED: {
    retryable: true,
    description:
      "The requester sent requests faster than the compute node's per-requester rate limit.",
  },
  PAYLOAD_TOO_LARGE: {
    retryable: false,
    description: "A message exceeds a size limit (the server's max_payload or a protocol bound).",
  },
  SEQUENCE_GAP: {
    retryable: true,
    description: "Frames were lost or duplicated in transit and the stream could not be resumed.",
  },
  INTERNAL: {
    retryable: true,
    description: "An unexpected failure inside a node (a log source error, a bug).",
  },
} as const satisfies CodeTable;

/** Codes only a requester raises, about its own view of a stream: never in an Error frame. */
export const LOCAL_ERROR_CODES = {
  PROTOCOL_ERROR: {
    retryable: true,
    description:
      "A frame received for an open stream failed validation or arrived out of order; only that stream ends.",
  },
  EXECUTION_AMBIGUOUS: {
    retryable: false,
    description:
      "More than one compute node says it holds this execution id: name the compute node.",
  },
  NODE_UNREACHABLE: {
    retryable: true,
    description:
      "No compute node is subscribed to the request subject (NATS answered 'no responders').",
  },
  ACCEPT_TIMEOUT: {
    retryable: true,
    description: "The compute node did not accept the stream within the accept timeout.",
  },
  COMPUTE_NODE_LOST: {
    retryable: true,
    description:
      "The compute node stopped heartbeating (died, froze or was partitioned) or no longer lists the stream.",
  },
  REQUESTER_LOST: {
    retryable: false,
    description:
      "The requester stopped answering heartbeats; the compute node released its streams.",
  },
  CANCELLED: {
    retryable: false,
    description: "The stream was cancelled by its consumer (cancel(), abort signal, client close).",
  },
  RESUME_EXHAUSTED: {
    retryable: false,
    description:
      "The stream broke and every resume attempt failed; the error says the last sequence delivered.",
  },
} as const satisfies CodeTable;

export type WireErrorCode = keyof typeof WIRE_ERROR_CODES;
export type LocalErrorCode = keyof typeof LOCAL_ERROR_CODES;

/** Both tables, for lookups by any code (counters per code, the class of a code). */
export const ERROR_CODES = { ...WIRE_ERROR_CODES, ...LOCAL_ERROR_CODES } as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_CODES, value);
}

/** A code a compute node may put in an Error frame. */
export function isWireErrorCode(value: unknown): value is WireErrorCode {
  return typeof value === "string" && Object.hasOwn(WIRE_ERROR_CODES, value);
}

export interface TailwireErrorOptions {
  retryable?: boolean;
  cause?: unknown;
}

/** Base class of every error tailwire raises: a stable string `code` plus a human message. */
export class TailwireError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: TailwireErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

// A class per code, so users can `catch (e) { if (e instanceof ComputeNodeLostError) ... }`.
function errorClass<C extends ErrorCode>(code: C) {
  return class extends TailwireError {
    declare readonly code: C;
    constructor(message: string, options?: TailwireErrorOptions) {
      super(code, message, options);
    }
  };
}

export class BadRequestError extends errorClass("BAD_REQUEST") {}
export class UnsupportedVersionError extends errorClass("UNSUPPORTED_VERSION") {}
export class ProtocolError extends errorClass("PROTOCOL_ERROR") {}
export class ExecutionNotFoundError extends errorClass("EXECUTION_NOT_FOUND") {}
export class ExecutionAmbiguousError extends errorClass("EXECUTION_AMBIGUOUS") {}
export class NodeUnreachableError extends errorClass("NODE_UNREACHABLE") {}
export class AcceptTimeoutError extends errorClass("ACCEPT_TIMEOUT") {}
export class ComputeNodeLostError extends errorClass("COMPUTE_NODE_LOST") {}
/**
 * The requester lost its streams by its own side's doing. Never thrown as such: it is the base
 * of the requester's RequesterStalledError and DuplicateRequesterIdError, which carry the facts,
 * so `instanceof RequesterLostError` catches both.
 */
export class RequesterLostError extends errorClass("REQUESTER_LOST") {}
export class CancelledError extends errorClass("CANCELLED") {}
export class GoingAwayError extends errorClass("GOING_AWAY") {}
export class TooManyStreamsError extends errorClass("TOO_MANY_STREAMS") {}
export class TooManyRequesterStreamsError extends errorClass("TOO_MANY_REQUESTER_STREAMS") {}
export class TailTooLargeError extends errorClass("TAIL_TOO_LARGE") {}
export class DuplicateStreamError extends errorClass("DUPLICATE_STREAM") {}
export class RateLimitedError extends errorClass("RATE_LIMITED") {}
export class PayloadTooLargeError extends errorClass("PAYLOAD_TOO_LARGE") {}
export class SequenceGapError extends errorClass("SEQUENCE_GAP") {}

/** What a ResumeExhaustedError knows beyond its message. */
export interface ResumeExhaustedOptions extends TailwireErrorOptions {
  /** The last sequence number delivered to the consumer; undefined when none was. */
  lastSeq?: number | undefined;
  /** Resume attempts made in the failed episode. */
  attempts?: number;
}

/**
 * The stream broke and resuming it failed within the budget. `lastSeq` is the last sequence
 * number delivered to the consumer (entries already received are delivered before this is
 * thrown): start a new stream with `fromSeq: lastSeq` to go on. `cause` is the last failure.
 */
export class ResumeExhaustedError extends errorClass("RESUME_EXHAUSTED") {
  readonly lastSeq: number | undefined;
  readonly attempts: number;

  constructor(message: string, options: ResumeExhaustedOptions = {}) {
    const { lastSeq, attempts, ...rest } = options;
    super(message, rest);
    this.lastSeq = lastSeq;
    this.attempts = attempts ?? 0;
  }
}
export class InternalError extends errorClass("INTERNAL") {}

const CLASSES: {
  [C in ErrorCode]: new (
    message: string,
    options?: TailwireErrorOptions,
  ) => TailwireError;
} = {
  BAD_REQUEST: BadRequestError,
  UNSUPPORTED_VERSION: UnsupportedVersionError,
  PROTOCOL_ERROR: ProtocolError,
  EXECUTION_NOT_FOUND: ExecutionNotFoundError,
  EXECUTION_AMBIGUOUS: ExecutionAmbiguousError,
  NODE_UNREACHABLE: NodeUnreachableError,
  ACCEPT_TIMEOUT: AcceptTimeoutError,
  COMPUTE_NODE_LOST: ComputeNodeLostError,
  REQUESTER_LOST: RequesterLostError,
  CANCELLED: CancelledError,
  GOING_AWAY: GoingAwayError,
  TOO_MANY_STREAMS: TooManyStreamsError,
  TOO_MANY_REQUESTER_STREAMS: TooManyRequesterStreamsError,
  TAIL_TOO_LARGE: TailTooLargeError,
  DUPLICATE_STREAM: DuplicateStreamError,
  RATE_LIMITED: RateLimitedError,
  PAYLOAD_TOO_LARGE: PayloadTooLargeError,
  SEQUENCE_GAP: SequenceGapError,
  RESUME_EXHAUSTED: ResumeExhaustedError,
  INTERNAL: InternalError,
};

/**
 * Builds the typed error for a code (for example one received in an error frame; readers also
 * accept the local codes there, as before the tables were split, so an older peer's frame means
 * what it meant).
 */
export function errorFromCode(
  code: ErrorCode,
  message: string,
  options?: TailwireErrorOptions,
): TailwireError {
  return new CLASSES[code](message, options);
}
