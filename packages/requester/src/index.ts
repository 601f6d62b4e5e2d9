// @tailwire/requester's public API.
// Re-exported so consumers can `catch (e) { if (e instanceof ComputeNodeLostError) ... }`
// without depending on @tailwire/protocol themselves.
export {
  AcceptTimeoutError,
  BadRequestError,
  CancelledError,
  ComputeNodeLostError,
  DuplicateStreamError,
  type ErrorCode,
  ExecutionAmbiguousError,
  ExecutionNotFoundError,
  GoingAwayError,
  InternalError,
  type LogEntry,
  type Logger,
  type LogStreamName,
  NodeUnreachableError,
  PayloadTooLargeError,
  ProtocolError,
  RateLimitedError,
  RequesterLostError,
  ResumeExhaustedError,
  SequenceGapError,
  TailTooLargeError,
  TailwireError,
  TooManyRequesterStreamsError,
  TooManyStreamsError,
  UnsupportedVersionError,
} from "@tailwire/protocol";
export { LogStreamClient } from "./client.js";
export {
  type ExecutionLocator,
  type LocatedExecution,
  type LocateOptions,
  NatsExecutionLocator,
  type NatsExecutionLocatorOptions,
} from "./execution-locator.js";
export {
  type JobLogItem,
  JobLogStream,
  type StreamJobLogsOptions,
} from "./job-log-stream.js";
export type { AcceptedInfo, LogStream } from "./log-stream.js";
export { isRemovedNotice, type LogItem, type RemovedNotice } from "./notices.js";
export { DEFAULTS, type LogStreamClientOptions, type StreamLogsOptions } from "./options.js";
export { DuplicateRequesterIdError, RequesterStalledError } from "./requester-errors.js";
export {
  backoffMs,
  RESUME_DEFAULTS,
  type ResumeAfterComputeLostOptions,
  type ResumeOptions,
} from "./resume-policy.js";
export type { ComputeNodeStats, EndCause, LogStreamClientStats } from "./stats.js";
