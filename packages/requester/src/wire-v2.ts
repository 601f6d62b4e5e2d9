// The requester's side of ExecutionLogs/v2 in terms of what it already speaks: a v2 stream is
// read by the same reader, judged by the same liveness rules and credited the same way as a v1
// one, so v2 messages are turned into their v1 shape where they arrive (the identity the v1
// payload carried is the subject's in v2: the caller passes the compute id it read there), and
// v1-shaped requests, controls and answers into v2 bytes where they leave.
import {
  type ControlMessageV2,
  type CreditGrant,
  encodeV2,
  type HeartbeatRequest,
  type HeartbeatRequestV2,
  type LogRequest,
  type LogRequestV2,
  MessageType,
  MessageTypeV2,
  type StreamFrame,
  type StreamFrameV2,
} from "@tailwire/protocol";

const V1_FRAME_TYPE = {
  [MessageTypeV2.Accepted]: MessageType.Accepted,
  [MessageTypeV2.Data]: MessageType.Data,
  [MessageTypeV2.End]: MessageType.End,
  [MessageTypeV2.Error]: MessageType.Error,
  [MessageTypeV2.Notice]: MessageType.Notice,
} as const;

/**
 * A decoded v2 frame as the v1 frame it stands for. Data frames are retyped in place (the hot
 * path: no copy); an Accepted gets the compute id of its subject and the notices v2 always has.
 */
export function frameFromV2(frame: StreamFrameV2, computeNodeId: string): StreamFrame {
  if (frame.type === MessageTypeV2.Accepted) {
    const { type: _v2, streamId, n, afterSeq, lastSeq, maxFrameBytes, firstSeq } = frame;
    return {
      type: MessageType.Accepted,
      streamId,
      n,
      computeNodeId,
      afterSeq,
      lastSeq,
      maxFrameBytes,
      firstSeq,
      notices: ["removed"],
    };
  }
  (frame as { type: string }).type = V1_FRAME_TYPE[frame.type];
  return frame as unknown as StreamFrame;
}

/** A v2 heartbeat as the v1 heartbeat of the compute node its subject names. */
export function heartbeatFromV2(
  heartbeat: HeartbeatRequestV2,
  computeNodeId: string,
): HeartbeatRequest {
  return {
    type: MessageType.Heartbeat,
    computeNodeId,
    streamIds: heartbeat.streamIds,
    ...(heartbeat.creditWait === undefined ? {} : { creditWait: heartbeat.creditWait }),
  };
}

/** The v2 request for what a v1 request asks: the ids go in the subject, notices are always on. */
export function requestV2(request: LogRequest): LogRequestV2 {
  const {
    type: _v1,
    sourcePeerId: _source,
    targetPeerId: _target,
    heartbeatSubject: _heartbeat,
    notices: _notices,
    // v2 has no compressed frames yet: a v2 stream is plain (v1's Compressed kind is v1's).
    compression: _compression,
    ...read
  } = request;
  return { type: MessageTypeV2.Request, ...read };
}

export function controlV2(cancel: string[], credit: CreditGrant[]): Uint8Array {
  const message: ControlMessageV2 = {
    type: MessageTypeV2.Control,
    ...(cancel.length > 0 ? { cancel } : {}),
    ...(credit.length > 0 ? { credit } : {}),
  };
  return encodeV2(message);
}

export const heartbeatAnswerV2 = (unknownStreamIds: string[]): Uint8Array =>
  encodeV2({ type: MessageTypeV2.HeartbeatResponse, unknownStreamIds });
