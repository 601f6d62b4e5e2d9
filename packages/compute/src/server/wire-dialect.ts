// What differs between the wire versions a compute node serves, in one place: the subjects a
// stream's frames and its requester's heartbeats go to, and the bytes of every message the node
// sends or reads back (PROTOCOL.md, "ExecutionLogs/v2"). A stream is served in the version it was
// opened in; everything else about serving it (admission, credit, batching, retention,
// heartbeats, ending) is the same for both, so the rest of the server asks its stream's dialect.
// v1's Accepted, End and Error are frames.ts's.
import {
  decodeHeartbeatResponse,
  decodeHeartbeatResponseV2,
  ERROR_CODES,
  type ErrorCode,
  encode,
  encodeDataFrame,
  encodeDataFrameV2,
  encodeV2,
  type LogEntry,
  MessageType,
  MessageTypeV2,
  type ProtocolVersion,
  subjects,
  subjectsV2,
} from "@tailwire/protocol";
import type { LogReader } from "../log-source.js";
import { acceptedFrame, endFrame, errorFrame, MAX_ERROR_MESSAGE } from "./frames.js";

/** Accepted's fields besides the stream id, in the order PROTOCOL.md and the fixtures write them. */
export interface AcceptedFields {
  afterSeq: number;
  lastSeq: number;
  maxFrameBytes: number;
  /** The first seq the store held (always sent in v2). */
  firstSeq?: number;
  /** v1 only: the notice kinds this stream will send. */
  notices?: string[];
  /** v1 only (so far): the codec of the stream's compressed frames. */
  compression?: string;
}

export interface WireDialect {
  readonly version: ProtocolVersion;
  streamInbox(requesterNodeId: string, computeNodeId: string, streamId: string): string;
  heartbeatSubject(requesterNodeId: string, computeNodeId: string): string;
  accepted(streamId: string, computeNodeId: string, fields: AcceptedFields): Uint8Array;
  data(streamId: string, n: number, entries: readonly LogEntry[], partial: boolean): Uint8Array;
  removed(streamId: string, n: number, reason: string, fromSeq: number, toSeq: number): Uint8Array;
  /** End: the read is complete, up to the reader's position. */
  end(streamId: string, n: number, reader: Pick<LogReader, "position" | "exitCode">): Uint8Array;
  /** An Error frame; `n` only on an accepted stream (a rejection has none). */
  error(streamId: string, code: ErrorCode, message: string, n: number | undefined): Uint8Array;
  heartbeat(computeNodeId: string, streamIds: string[], creditWait: string[]): Uint8Array;
  /** The stream ids a heartbeat answer says the requester no longer wants. */
  unknownStreamIds(answer: Uint8Array): string[];
}

const errorFields = (code: ErrorCode, message: string) => ({
  code,
  message: message.slice(0, MAX_ERROR_MESSAGE),
  retryable: ERROR_CODES[code].retryable,
});

export const WIRE_V1: WireDialect = {
  version: "v1",
  streamInbox: (requesterNodeId, _computeNodeId, streamId) =>
    subjects.streamInbox(requesterNodeId, streamId),
  heartbeatSubject: (requesterNodeId) => subjects.heartbeat(requesterNodeId),
  accepted: (streamId, computeNodeId, { lastSeq, maxFrameBytes, compression, ...retention }) =>
    acceptedFrame(streamId, computeNodeId, retention, lastSeq, maxFrameBytes, compression),
  data: (streamId, n, entries, partial) => encodeDataFrame(streamId, n, entries, partial),
  removed: (streamId, n, reason, fromSeq, toSeq) =>
    encode({ type: MessageType.Notice, streamId, n, notice: "removed", reason, fromSeq, toSeq }),
  end: endFrame,
  error: errorFrame,
  heartbeat: (computeNodeId, streamIds, creditWait) =>
    encode({
      type: MessageType.Heartbeat,
      computeNodeId,
      streamIds,
      // Only when some stream waits: an idle heartbeat stays as small as before.
      ...(creditWait.length > 0 ? { creditWait } : {}),
    }),
  unknownStreamIds: (answer) => decodeHeartbeatResponse(answer).unknownStreamIds,
};

/** v2: the identities are the subjects'; removal notices are always on (firstSeq required). */
export const WIRE_V2: WireDialect = {
  version: "v2",
  streamInbox: (requesterNodeId, computeNodeId, streamId) =>
    subjectsV2.streamInbox(requesterNodeId, computeNodeId, streamId),
  heartbeatSubject: (requesterNodeId, computeNodeId) =>
    subjectsV2.heartbeat(requesterNodeId, computeNodeId),
  accepted: (streamId, _computeNodeId, { afterSeq, lastSeq, maxFrameBytes, firstSeq }) =>
    encodeV2({
      type: MessageTypeV2.Accepted,
      streamId,
      n: 0,
      afterSeq,
      lastSeq,
      maxFrameBytes,
      // A store that cannot say where it starts holds everything after afterSeq.
      firstSeq: firstSeq ?? afterSeq + 1,
    }),
  data: (streamId, n, entries, partial) => encodeDataFrameV2(streamId, n, entries, partial),
  removed: (streamId, n, reason, fromSeq, toSeq) =>
    encodeV2({
      type: MessageTypeV2.Notice,
      streamId,
      n,
      notice: "removed",
      reason,
      fromSeq,
      toSeq,
    }),
  end: (streamId, n, reader) =>
    encodeV2({
      type: MessageTypeV2.End,
      streamId,
      n,
      lastSeq: reader.position,
      exitCode: reader.exitCode,
    }),
  error: (streamId, code, message, n) =>
    encodeV2({
      type: MessageTypeV2.Error,
      streamId,
      ...(n === undefined ? {} : { n }),
      ...errorFields(code, message),
    }),
  heartbeat: (_computeNodeId, streamIds, creditWait) =>
    encodeV2({
      type: MessageTypeV2.Heartbeat,
      streamIds,
      ...(creditWait.length > 0 ? { creditWait } : {}),
    }),
  unknownStreamIds: (answer) => decodeHeartbeatResponseV2(answer).unknownStreamIds,
};

export const WIRE_DIALECTS: Readonly<Record<ProtocolVersion, WireDialect>> = {
  v1: WIRE_V1,
  v2: WIRE_V2,
};
