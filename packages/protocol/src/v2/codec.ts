// The ExecutionLogs/v2 codec: decoders per subject (each accepts only the kinds that belong
// there; a message of another version is UNSUPPORTED_VERSION) and the validating encoder. Data
// frames have v1's two forms (a JSON header and a body of lines, or a `line` column) and the
// same checks; the machinery is shared with v1 (../message-codec.ts).
import { BadRequestError } from "../errors.js";
import { MAX_MESSAGE_BYTES, messageCodec } from "../message-codec.js";
import { encodeDataFrame } from "../v1/data-frame-encoder.js";
import type { LogEntry } from "../v1/schemas.js";
import {
  AcceptedFrameV2,
  ControlMessageV2,
  DataFrameV2,
  EndFrameV2,
  ErrorFrameV2,
  HeartbeatRequestV2,
  HeartbeatResponseV2,
  LocateAnswerV2,
  LocateRequestV2,
  LogRequestV2,
  type MessageTypeNameV2,
  MessageTypeV2,
  type MessageV2,
  NoticeFrameV2,
  type StreamFrameV2,
} from "./schemas.js";

const codec = messageCodec<MessageTypeNameV2, MessageV2>({
  schemas: {
    [MessageTypeV2.Request]: LogRequestV2,
    [MessageTypeV2.Accepted]: AcceptedFrameV2,
    [MessageTypeV2.Data]: DataFrameV2,
    [MessageTypeV2.End]: EndFrameV2,
    [MessageTypeV2.Error]: ErrorFrameV2,
    [MessageTypeV2.Notice]: NoticeFrameV2,
    [MessageTypeV2.Control]: ControlMessageV2,
    [MessageTypeV2.Heartbeat]: HeartbeatRequestV2,
    [MessageTypeV2.HeartbeatResponse]: HeartbeatResponseV2,
    [MessageTypeV2.Locate]: LocateRequestV2,
    [MessageTypeV2.Located]: LocateAnswerV2,
  },
  dataType: MessageTypeV2.Data,
  noticeType: MessageTypeV2.Notice,
  checks: {
    [MessageTypeV2.Locate]: (value, type) => {
      const { executionId, jobId } = value as LocateRequestV2;
      if ((executionId === undefined) === (jobId === undefined)) {
        throw new BadRequestError(`invalid ${type}: needs exactly one of executionId and jobId`);
      }
    },
  },
});

/**
 * Decodes a message that must be one of `expected`: a v2 kind that does not belong on this
 * subject is BAD_REQUEST, anything else (v1, a future version or kind) UNSUPPORTED_VERSION.
 */
const decodeOneOf = codec.decodeOneOf;

/** Requests arrive on node.compute.<id>.ExecutionLogs/v2.<requester>. */
export const decodeRequestV2 = (bytes: Uint8Array): LogRequestV2 =>
  decodeOneOf(bytes, [MessageTypeV2.Request], MAX_MESSAGE_BYTES.request);

export const decodeControlV2 = (bytes: Uint8Array): ControlMessageV2 =>
  decodeOneOf(bytes, [MessageTypeV2.Control], MAX_MESSAGE_BYTES.control);

export const decodeHeartbeatV2 = (bytes: Uint8Array): HeartbeatRequestV2 =>
  decodeOneOf(bytes, [MessageTypeV2.Heartbeat], MAX_MESSAGE_BYTES.heartbeat);

export const decodeHeartbeatResponseV2 = (bytes: Uint8Array): HeartbeatResponseV2 =>
  decodeOneOf(bytes, [MessageTypeV2.HeartbeatResponse], MAX_MESSAGE_BYTES.heartbeat);

export const decodeLocateV2 = (bytes: Uint8Array): LocateRequestV2 =>
  decodeOneOf(bytes, [MessageTypeV2.Locate], MAX_MESSAGE_BYTES.locate);

export const decodeLocateAnswerV2 = (bytes: Uint8Array): LocateAnswerV2 =>
  decodeOneOf(bytes, [MessageTypeV2.Located], MAX_MESSAGE_BYTES.located);

const FRAME_TYPES_V2 = [
  MessageTypeV2.Accepted,
  MessageTypeV2.Data,
  MessageTypeV2.End,
  MessageTypeV2.Error,
  MessageTypeV2.Notice,
] as const;

/** Frames arrive on the requester's `_TW.<id>.v2.<compute>.s.<streamId>`. */
export const decodeFrameV2 = (bytes: Uint8Array): StreamFrameV2 =>
  decodeOneOf(bytes, FRAME_TYPES_V2, MAX_MESSAGE_BYTES.frame, true);

/** Decodes any v2 message, whatever its subject (tools, debugging, tests). */
export const decodeMessageV2 = (bytes: Uint8Array): MessageV2 =>
  decodeOneOf(bytes, Object.values(MessageTypeV2), MAX_MESSAGE_BYTES.frame, true);

/** Encodes a v2 message after validating it; data frames take encodeDataFrameV2 instead. */
export const encodeV2 = (message: MessageV2): Uint8Array => codec.encode(message);

/** A v2 data frame: v1's encoder (the producer's hot path) under the v2 type name. */
export const encodeDataFrameV2 = (
  streamId: string,
  n: number,
  entries: readonly LogEntry[],
  partial = false,
): Uint8Array => encodeDataFrame(streamId, n, entries, partial, MessageTypeV2.Data);
