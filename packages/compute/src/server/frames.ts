// Encodes the frames the server itself sends besides data and notices: Accepted, End and Error
// (data frames are the batcher's, notices the served stream's).
import { ERROR_CODES, type ErrorCode, encode, MessageType } from "@tailwire/protocol";
import type { LogReader } from "../log-source.js";

/** Error frame messages are bounded by the schema (4096); keep them short anyway. */
export const MAX_ERROR_MESSAGE = 1000;

/** The Accepted frame's retention fields (see retention-notices). */
export interface AcceptedRetention {
  afterSeq: number;
  firstSeq?: number;
  notices?: string[];
}

/** Accepted, with its fields in the order PROTOCOL.md and the fixtures write them. */
export function acceptedFrame(
  streamId: string,
  computeNodeId: string,
  retention: AcceptedRetention,
  lastSeq: number,
  maxFrameBytes: number,
  /** The codec of the stream's compressed frames (PROTOCOL.md "Compressed frames"), if any. */
  compression?: string,
): Uint8Array {
  const { afterSeq, ...rest } = retention;
  return encode({
    type: MessageType.Accepted,
    streamId,
    n: 0,
    computeNodeId,
    // The schema's field order (afterSeq first), so the bytes match the fixtures.
    afterSeq,
    lastSeq,
    maxFrameBytes,
    ...rest,
    ...(compression !== undefined && { compression }),
  });
}

/** End: the read is complete, up to the reader's position. */
export function endFrame(
  streamId: string,
  n: number,
  reader: Pick<LogReader, "position" | "exitCode">,
): Uint8Array {
  return encode({
    type: MessageType.End,
    streamId,
    n,
    lastSeq: reader.position,
    exitCode: reader.exitCode,
  });
}

/** Error, with a frame number only for an accepted stream (a rejection has none). */
export function errorFrame(
  streamId: string,
  code: ErrorCode,
  message: string,
  n: number | undefined,
): Uint8Array {
  return encode({
    type: MessageType.Error,
    streamId,
    ...(n === undefined ? {} : { n }),
    code,
    message: message.slice(0, MAX_ERROR_MESSAGE),
    retryable: ERROR_CODES[code].retryable,
  });
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
