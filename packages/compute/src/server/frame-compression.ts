// The compute side of compressed frames: which codec a stream gets, and what a data frame
// becomes on the wire with the credit it takes (PROTOCOL.md "Compressed frames").
import {
  type CompressionCodec,
  chooseCodec,
  compressDataFrame,
  frameCreditBytes,
  type LogRequest,
} from "@tailwire/protocol";

/** The codec of a new stream: the first of ours its request offered; undefined = plain frames. */
export const codecFor = (
  request: LogRequest,
  codecs: readonly CompressionCodec[],
): CompressionCodec | undefined => chooseCodec(request.compression, codecs);

/** Data frame `n` as it goes on the wire, compressed when the stream has a codec and it shrinks. */
export function outgoingFrame(
  codec: CompressionCodec | undefined,
  streamId: string,
  n: number,
  plain: Uint8Array,
): { data: Uint8Array; creditBytes: number } {
  if (codec === undefined) return { data: plain, creditBytes: plain.byteLength };
  const data = compressDataFrame(codec, streamId, n, plain);
  const creditBytes =
    data === plain ? plain.byteLength : frameCreditBytes(data.byteLength, plain.byteLength);
  return { data, creditBytes };
}
