// The requester side of compressed frames (PROTOCOL.md "Compressed frames"): the codecs it
// offers, the check of the codec a compute node chose, and decoding a frame of the stream's
// inbox with the credit it takes.
import {
  DecompressionLimitError,
  decodeStreamFrame,
  frameCreditBytes,
  ProtocolError,
  type StreamFrame,
} from "@tailwire/protocol";

/** The codec an Accepted frame names must be one this request offered. */
export function acceptedCodec(
  chosen: string | undefined,
  offered: readonly string[],
): string | undefined {
  if (chosen !== undefined && !offered.includes(chosen))
    throw new ProtocolError(
      `the compute node chose codec ${chosen}, which this request did not offer`,
    );
  return chosen;
}

export interface InboxFrame {
  frame: StreamFrame;
  /** The credit it takes (and gives back once consumed): its wire bytes, at least size / 16. */
  creditBytes: number;
}

/** Decodes one frame of a stream whose attempt has agreed on `codec` (undefined = plain). */
export function receiveFrame(
  bytes: Uint8Array,
  attempt: { codec: string | undefined; maxFrameBytes: number },
): InboxFrame {
  const received = decodeStreamFrame(bytes, attempt);
  return {
    frame: received.frame,
    creditBytes: frameCreditBytes(bytes.byteLength, received.compressed?.size),
  };
}

/** Errors of a compressed frame's size keep their own code; others are PROTOCOL_ERROR as before. */
export const keepsItsCode = (error: unknown): boolean => error instanceof DecompressionLimitError;
