// Classifies why a NATS request (a heartbeat) failed: timeout, no responders, other.
import { RequestError, TimeoutError } from "@nats-io/nats-core";

export type RequestFailure = "timeout" | "no_responders" | "error";

/**
 * Why a NATS request failed. nats.js v3 rejects a timed-out request with TimeoutError and a
 * 503 "no responders" with RequestError whose cause is NoRespondersError. Names are checked as
 * well in case two copies of nats-core are loaded (instanceof would then fail).
 */
export function classifyRequestError(error: unknown): RequestFailure {
  if (error instanceof TimeoutError) return "timeout";
  if (error instanceof RequestError && error.isNoResponders()) return "no_responders";
  if (error instanceof Error) {
    if (error.name === "TimeoutError") return "timeout";
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof Error && cause.name === "NoRespondersError") return "no_responders";
  }
  return "error";
}
