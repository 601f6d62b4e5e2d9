// The v1 codec: encoding and validating decoding of every message, with byte bounds per kind.
import { BadRequestError, type TailwireError } from "../errors.js";
import { MAX_MESSAGE_BYTES, messageCodec } from "../message-codec.js";
import {
  AcceptedFrame,
  ControlMessage,
  DataFrame,
  type DecodedMessageV1,
  EndFrame,
  ErrorFrame,
  HeartbeatRequest,
  HeartbeatResponse,
  LocateAnswer,
  LocateRequest,
  LogRequest,
  MessageType,
  type MessageTypeName,
  type MessageV1,
  NoticeFrame,
  type StreamFrame,
} from "./schemas.js";

export { MAX_MESSAGE_BYTES } from "../message-codec.js";
export { encodeDataFrame } from "./data-frame-encoder.js";
export { dataFrameEntries, dataFrameSeq } from "./frame-entries.js";

const codec = messageCodec<MessageTypeName, MessageV1, DecodedMessageV1>({
  schemas: {
    [MessageType.Request]: LogRequest,
    [MessageType.Accepted]: AcceptedFrame,
    [MessageType.Data]: DataFrame,
    [MessageType.End]: EndFrame,
    [MessageType.Error]: ErrorFrame,
    [MessageType.Control]: ControlMessage,
    [MessageType.Heartbeat]: HeartbeatRequest,
    [MessageType.HeartbeatResponse]: HeartbeatResponse,
    [MessageType.Locate]: LocateRequest,
    [MessageType.Located]: LocateAnswer,
    [MessageType.Notice]: NoticeFrame,
  },
  dataType: MessageType.Data,
  noticeType: MessageType.Notice,
});

/**
 * Decodes a message that must be one of `expected`. A type this version does not define
 * (another version, or a future message) is UNSUPPORTED_VERSION; a known v1 type that does not
 * belong on this subject is BAD_REQUEST.
 */
const decodeOneOf = codec.decodeOneOf;

/** Requests arrive on node.compute.<id>.ExecutionLogs/v1. */
export const decodeRequest = (bytes: Uint8Array): LogRequest =>
  decodeOneOf(bytes, [MessageType.Request], MAX_MESSAGE_BYTES.request);

export const decodeControl = (bytes: Uint8Array): ControlMessage =>
  decodeOneOf(bytes, [MessageType.Control], MAX_MESSAGE_BYTES.control);

export const decodeHeartbeat = (bytes: Uint8Array): HeartbeatRequest =>
  decodeOneOf(bytes, [MessageType.Heartbeat], MAX_MESSAGE_BYTES.heartbeat);

export const decodeHeartbeatResponse = (bytes: Uint8Array): HeartbeatResponse =>
  decodeOneOf(bytes, [MessageType.HeartbeatResponse], MAX_MESSAGE_BYTES.heartbeat);

/** Locate requests arrive on node.locate.ExecutionLocate/v1.<kind>.<key>; exactly one id. */
export function decodeLocate(bytes: Uint8Array): LocateRequest {
  const request = decodeOneOf<LocateRequest>(bytes, [MessageType.Locate], MAX_MESSAGE_BYTES.locate);
  if ((request.executionId === undefined) === (request.jobId === undefined)) {
    throw new BadRequestError(
      `invalid ${MessageType.Locate}: needs exactly one of executionId and jobId`,
    );
  }
  return request;
}

/** Answers to a locate arrive on the requester's `_TW.<id>.l.<lookupId>`. */
export const decodeLocateAnswer = (bytes: Uint8Array): LocateAnswer =>
  decodeOneOf(bytes, [MessageType.Located], MAX_MESSAGE_BYTES.located);

const FRAME_TYPES = [
  MessageType.Accepted,
  MessageType.Data,
  MessageType.End,
  MessageType.Error,
  MessageType.Notice,
] as const;

/** Frames arrive on the requester's stream inbox. */
export const decodeFrame = (bytes: Uint8Array): StreamFrame =>
  decodeOneOf(bytes, FRAME_TYPES, MAX_MESSAGE_BYTES.frame, true);

/** Decodes any v1 message, whatever its subject (tools, debugging, tests). */
export const decodeMessage = (bytes: Uint8Array): DecodedMessageV1 =>
  decodeOneOf(bytes, Object.values(MessageType), MAX_MESSAGE_BYTES.frame, true);

/** Outcome form of the decoders, for callers that prefer a value to a throw. */
export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: TailwireError };

export function tryDecode<T>(decode: (bytes: Uint8Array) => T, bytes: Uint8Array): DecodeResult<T> {
  try {
    return { ok: true, value: decode(bytes) };
  } catch (error) {
    return { ok: false, error: error as TailwireError };
  }
}

/**
 * Encodes a message after validating it: a bug that would put an invalid message on the wire
 * fails here, at its source. Data frames take the fast path (encodeDataFrame) instead.
 */
export const encode = (message: MessageV1): Uint8Array => codec.encode(message);
