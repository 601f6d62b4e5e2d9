/**
 * One table of error codes for the whole protocol. Every error frame, every typed error thrown by
 * the requester and every rejection logged by the compute node uses a code from this table, so a
 * user (or another language's implementation) can branch on a stable string.
 */
export const ERROR_CODES = {
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
  PROTOCOL_ERROR: {
    retryable: true,
    description:
      "A frame received for an open stream failed validation or arrived out of order; only that stream ends.",
  },
  EXECUTION_NOT_FOUND: {
    retryable: false,
    description: "The compute node has no logs for this execution id.",
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
  RESUME_EXHAUSTED: {
    retryable: false,
    description:
      "The stream broke and every resume attempt failed; the error says the last sequence delivered.",
  },
  INTERNAL: {
    retryable: true,
    description: "An unexpected failure inside a node (a log source error, a bug).",
  },
} as const satisfies Record<string, { retryable: boolean; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_CODES, value);
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
export class ResumeExhaustedError extends errorClass("RESUME_EXHAUSTED") {}
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

/** Builds the typed error for a code received on the wire (for example from an error frame). */
export function errorFromCode(
  code: ErrorCode,
  message: string,
  options?: TailwireErrorOptions,
): TailwireError {
  return new CLASSES[code](message, options);
}
