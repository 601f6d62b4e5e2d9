// What a stream asks its compute node: its options checked and normalised once (StreamRequest),
// and the wire request of each attempt built from them (a resume asks again after its last seq).
import {
  encode,
  encodeV2,
  type LogRequest,
  type LogStreamName,
  MessageType,
  type ProtocolVersion,
  subjects,
} from "@tailwire/protocol";
import type { ResolvedOptions, StreamLogsOptions } from "./options.js";
import { requestV2 } from "./wire-v2.js";

/** A stream's read options in wire units, kept per stream so a resume can re-issue them. */
export interface StreamRequest {
  computeNodeId: string;
  executionId: string;
  follow: boolean;
  tail?: number;
  /** Epoch ms. */
  since?: number;
  streams?: LogStreamName[];
  fromSeq?: number;
}

export function streamRequestOf(options: StreamLogsOptions, computeNodeId: string): StreamRequest {
  const read: StreamRequest = {
    computeNodeId,
    executionId: options.executionId,
    follow: options.follow ?? false,
  };
  if (options.tail !== undefined) read.tail = options.tail;
  if (options.since !== undefined) {
    read.since = options.since instanceof Date ? options.since.getTime() : options.since;
  }
  if (options.streams !== undefined) read.streams = [...options.streams];
  if (options.fromSeq !== undefined) read.fromSeq = options.fromSeq;
  return read;
}

/**
 * The request of one attempt: a resume asks for seq > resumeFrom (no tail), the first attempt
 * for what the stream asked. Fields in the order PROTOCOL.md and the fixtures write them.
 */
export function logRequestFor(
  read: StreamRequest,
  client: ResolvedOptions,
  streamId: string,
  window: number,
  resumeFrom: number | undefined,
): LogRequest {
  const request: LogRequest = {
    type: MessageType.Request,
    sourcePeerId: client.nodeId,
    targetPeerId: read.computeNodeId,
    executionId: read.executionId,
    streamId,
    follow: read.follow,
    heartbeatSubject: subjects.heartbeat(client.nodeId),
    heartbeatIntervalMs: client.heartbeatIntervalMs,
    heartbeatTimeoutMs: client.heartbeatTimeoutMs,
    window,
    // Retention: lines the compute node removed come as a typed notice (see notices.ts).
    notices: ["removed"],
  };
  if (client.compression.length > 0) request.compression = [...client.compression];
  if (resumeFrom !== undefined) request.fromSeq = resumeFrom;
  else {
    if (read.tail !== undefined) request.tail = read.tail;
    if (read.fromSeq !== undefined) request.fromSeq = read.fromSeq;
  }
  if (read.since !== undefined) request.since = read.since;
  if (read.streams !== undefined) request.streams = read.streams;
  return request;
}

/** An attempt's request as bytes in its wire version (v2: the identities go in the subject). */
export function encodeLogRequest(request: LogRequest, version: ProtocolVersion): Uint8Array {
  return version === "v2" ? encodeV2(requestV2(request)) : encode(request);
}
