// The gateway's HTTP errors: one table from error code to HTTP status and the public message a
// client sees (never a stack trace, never an upstream's raw message: those go to the log).
import { type ErrorCode, TailwireError } from "@tailwire/protocol";

/** The gateway's own codes, next to the protocol's (PROTOCOL.md's table). */
export type GatewayOnlyCode =
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "NOT_ACCEPTABLE"
  | "TOO_MANY_GATEWAY_STREAMS"
  | "NATS_DISCONNECTED";

export type GatewayErrorCode = ErrorCode | GatewayOnlyCode;

/** An error the gateway answers with: a code, an HTTP status, a message safe to show. */
export class GatewayError extends Error {
  readonly code: GatewayErrorCode;
  readonly status: number;
  readonly retryable: boolean;

  constructor(
    code: GatewayErrorCode,
    message: string,
    options: { cause?: unknown; status?: number } = {},
  ) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = "GatewayError";
    this.code = code;
    this.status = options.status ?? statusOf(code);
    this.retryable = RETRYABLE.has(code);
  }
}

/** A gateway that was configured wrongly (an unsafe listen address, a bad token file...). */
export class GatewayConfigError extends Error {
  readonly code: "INVALID_OPTIONS" | "INSECURE_LISTEN";
  constructor(code: "INVALID_OPTIONS" | "INSECURE_LISTEN", message: string) {
    super(message);
    this.name = "GatewayConfigError";
    this.code = code;
  }
}

const STATUS: Record<GatewayErrorCode, number> = {
  BAD_REQUEST: 400,
  TAIL_TOO_LARGE: 400,
  PAYLOAD_TOO_LARGE: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  EXECUTION_NOT_FOUND: 404,
  // Several compute nodes say they hold the id: the caller must name one (a 409 Conflict).
  EXECUTION_AMBIGUOUS: 409,
  NOT_ACCEPTABLE: 406,
  RATE_LIMITED: 429,
  TOO_MANY_STREAMS: 429,
  TOO_MANY_REQUESTER_STREAMS: 429,
  TOO_MANY_GATEWAY_STREAMS: 429,
  INTERNAL: 502,
  PROTOCOL_ERROR: 502,
  SEQUENCE_GAP: 502,
  UNSUPPORTED_VERSION: 502,
  DUPLICATE_STREAM: 502,
  REQUESTER_LOST: 502,
  CANCELLED: 503,
  NODE_UNREACHABLE: 503,
  COMPUTE_NODE_LOST: 503,
  GOING_AWAY: 503,
  RESUME_EXHAUSTED: 503,
  NATS_DISCONNECTED: 503,
  ACCEPT_TIMEOUT: 504,
};

const RETRYABLE = new Set<GatewayErrorCode>([
  "RATE_LIMITED",
  "TOO_MANY_STREAMS",
  "TOO_MANY_REQUESTER_STREAMS",
  "TOO_MANY_GATEWAY_STREAMS",
  "NODE_UNREACHABLE",
  "COMPUTE_NODE_LOST",
  "GOING_AWAY",
  "RESUME_EXHAUSTED",
  "NATS_DISCONNECTED",
  "ACCEPT_TIMEOUT",
  "PROTOCOL_ERROR",
  "SEQUENCE_GAP",
  "INTERNAL",
]);

export function statusOf(code: GatewayErrorCode): number {
  return STATUS[code] ?? 500;
}

/** What a client is told for an upstream (LogStreamClient) failure, by code. */
const PUBLIC_MESSAGE: Partial<Record<ErrorCode, string>> = {
  EXECUTION_NOT_FOUND: "the compute node has no logs for this execution",
  NODE_UNREACHABLE: "the compute node is not reachable (no compute node answers for it)",
  ACCEPT_TIMEOUT: "the compute node did not answer in time",
  COMPUTE_NODE_LOST: "the compute node stopped answering (lost) while streaming",
  GOING_AWAY: "the compute node is shutting down",
  RESUME_EXHAUSTED: "the stream broke and could not be resumed",
  TOO_MANY_STREAMS: "the compute node serves as many streams as it allows; try again later",
  TOO_MANY_REQUESTER_STREAMS: "this gateway has as many streams on that compute node as it allows",
  RATE_LIMITED: "the compute node is rate limiting requests; try again later",
  TAIL_TOO_LARGE: "tail is larger than the compute node allows",
  BAD_REQUEST: "the compute node refused the request as invalid",
  PAYLOAD_TOO_LARGE: "the request is too large",
  UNSUPPORTED_VERSION: "the compute node does not speak this protocol version",
  PROTOCOL_ERROR: "the compute node sent an invalid stream",
  SEQUENCE_GAP: "the stream lost entries in transit",
};

/**
 * Turns anything thrown while serving a stream into a GatewayError with a public message. The
 * original error is kept as `cause` for the log.
 */
export function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  if (error instanceof TailwireError) {
    // Only the gateway itself cancels a stream whose client is still there: client.close() at
    // shutdown. Said as GOING_AWAY (retryable) so the client reconnects and resumes elsewhere.
    if (error.code === "CANCELLED") {
      return new GatewayError("GOING_AWAY", "the gateway is shutting down; reconnect to resume", {
        cause: error,
      });
    }
    const message = PUBLIC_MESSAGE[error.code] ?? "the log stream failed inside the gateway";
    const mapped = new GatewayError(error.code, message, { cause: error });
    // The protocol's retryable flag is the authority for its own codes.
    Object.defineProperty(mapped, "retryable", { value: error.retryable });
    return mapped;
  }
  return new GatewayError("INTERNAL", "the log stream failed inside the gateway", {
    cause: error,
    status: 500,
  });
}

/**
 * Before the first byte, a resume that ran out is answered as its last failure: the requester
 * retried a compute node's refusal (TOO_MANY_STREAMS, RATE_LIMITED...) a few times, and the
 * refusal is what the client should see (429), not that retrying failed (503).
 */
export function refusalOf(error: unknown): unknown {
  if (error instanceof TailwireError && error.code === "RESUME_EXHAUSTED") {
    if (error.cause instanceof TailwireError) return error.cause;
  }
  return error;
}

/** The JSON body of an error response (and the data of an SSE `error` event). */
export function errorBody(error: GatewayError): {
  code: GatewayErrorCode;
  message: string;
  retryable: boolean;
} {
  return { code: error.code, message: error.message, retryable: error.retryable };
}
