// Compressed data frames (an optional v1 addition, PROTOCOL.md "Compressed frames"): the codecs
// this build has, choosing one from a requester's offer, wrapping a data frame into an
// `ExecutionLogs.Compressed/v1` frame and unwrapping one within the limits that keep a
// decompression bomb from costing the requester more than one frame's bound.
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import { brotliCompressSync, brotliDecompressSync, constants as zlibConstants } from "node:zlib";
import { type Static, Type } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { PayloadTooLargeError, ProtocolError } from "../errors.js";
import { STREAM_ID_PATTERN } from "../ids.js";
import { decodeFrame } from "./codec.js";
import { type DataFrame, LIMITS, MessageType, type StreamFrame } from "./schemas.js";

export const COMPRESSED_FRAME_TYPE = "ExecutionLogs.Compressed/v1";

/**
 * The codecs of v1, in the order a compute node prefers them. zstd (RFC 8878) at level 1 won
 * the measurement (BENCHMARKS.md "codecs": the best ratio at the lowest CPU per line); brotli
 * (RFC 7932) at quality 1 is Node's own, so a peer without the native zstd module still
 * compresses about as well at twice the CPU.
 */
export const COMPRESSION_CODECS = ["zstd", "brotli"] as const;
export type CompressionCodec = (typeof COMPRESSION_CODECS)[number];

/**
 * Credit a compressed frame takes is its wire bytes, but at least its decoded size over this:
 * so a requester never holds more than this many times its window once its frames are
 * decompressed, however well (or maliciously) they compress. Log text compresses 3 to 8 times.
 */
export const COMPRESSED_EXPANSION_LIMIT = 16;

/** The header of a compressed frame: the JSON object before its first newline. */
export const CompressedFrameHeader = Type.Object(
  {
    type: Type.Literal(COMPRESSED_FRAME_TYPE),
    streamId: Type.String({ pattern: STREAM_ID_PATTERN }),
    /** The frame's number, which the data frame inside carries too. */
    n: Type.Integer({ minimum: 1, maximum: LIMITS.maxSafe }),
    /** The stream's codec, as Accepted said. */
    codec: Type.String({ pattern: "^[a-z][a-z0-9_-]{0,31}$" }),
    /** Bytes of the data frame inside once decompressed: at most the stream's maxFrameBytes. */
    size: Type.Integer({ minimum: 1, maximum: LIMITS.maxInt }),
  },
  { $id: COMPRESSED_FRAME_TYPE },
);
export type CompressedFrameHeader = Static<typeof CompressedFrameHeader>;

const checkHeader = TypeCompiler.Compile(CompressedFrameHeader);

/** A compressed frame says or proves that it expands past the stream's bound (a decompression bomb). */
export class DecompressionLimitError extends PayloadTooLargeError {}

interface ZstdNapi {
  compress(data: Uint8Array, options: { compressionLevel: number }): Buffer;
}
interface ZstdBinding {
  decompress(dst: Uint8Array, src: Uint8Array): number;
}

let zstd: { napi: ZstdNapi; binding: ZstdBinding } | null | undefined;

/**
 * zstd-napi is an optional dependency (a native module, prebuilt or built at install): loaded
 * on first use, and absent when it could not be installed here.
 */
function loadZstd(): { napi: ZstdNapi; binding: ZstdBinding } | null {
  if (zstd === undefined) {
    try {
      const require = createRequire(import.meta.url);
      zstd = {
        napi: require("zstd-napi") as ZstdNapi,
        binding: require("zstd-napi/binding.js") as ZstdBinding,
      };
    } catch {
      zstd = null;
    }
  }
  return zstd;
}

/** The codecs this process can use, in the order of COMPRESSION_CODECS. */
export function availableCodecs(): CompressionCodec[] {
  return COMPRESSION_CODECS.filter((codec) => codec !== "zstd" || loadZstd() !== null);
}

/**
 * A node's codecs from its `compression` option: every codec available here by default (in
 * their order), none for `false`, else the list given, each of which must be available.
 */
export function resolveCodecs(
  option: readonly CompressionCodec[] | false | undefined,
): CompressionCodec[] {
  if (option === false) return [];
  const available = availableCodecs();
  if (option === undefined) return available;
  for (const codec of option) {
    if (!available.includes(codec))
      throw new RangeError(
        `compression codec ${codec} is not available here (have: ${available.join(", ") || "none"})`,
      );
  }
  return [...option];
}

/** The first of `ours` (in our order) that the offer names, or undefined for plain frames. */
export function chooseCodec(
  offered: readonly string[] | undefined,
  ours: readonly CompressionCodec[],
): CompressionCodec | undefined {
  if (offered === undefined || offered.length === 0) return undefined;
  return ours.find((codec) => offered.includes(codec));
}

function compressBytes(codec: CompressionCodec, bytes: Uint8Array): Uint8Array {
  if (codec === "zstd") {
    const lib = loadZstd();
    if (lib === null) throw new Error("zstd-napi is not installed");
    return lib.napi.compress(bytes, { compressionLevel: 1 });
  }
  return brotliCompressSync(bytes, {
    params: {
      [zlibConstants.BROTLI_PARAM_QUALITY]: 1,
      [zlibConstants.BROTLI_PARAM_SIZE_HINT]: bytes.byteLength,
    },
  });
}

const NEWLINE = 0x0a;
const textEncoder = new TextEncoder();

/**
 * The compressed frame carrying `dataFrame` (the exact payload of data frame `n` of this
 * stream), or `dataFrame` itself when compressing would not make it smaller: a compressed
 * stream may carry plain data frames too.
 */
export function compressDataFrame(
  codec: CompressionCodec,
  streamId: string,
  n: number,
  dataFrame: Uint8Array,
): Uint8Array {
  const body = compressBytes(codec, dataFrame);
  const header = textEncoder.encode(
    JSON.stringify({ type: COMPRESSED_FRAME_TYPE, streamId, n, codec, size: dataFrame.byteLength }),
  );
  const wire = header.byteLength + 1 + body.byteLength;
  if (wire >= dataFrame.byteLength) return dataFrame;
  const out = Buffer.allocUnsafe(wire);
  out.set(header, 0);
  out[header.byteLength] = NEWLINE;
  out.set(body, header.byteLength + 1);
  return out;
}

/** The flow-control credit a frame takes: its wire bytes, or for a compressed one at least size / 16. */
export function frameCreditBytes(wireBytes: number, size: number | undefined): number {
  if (size === undefined) return wireBytes;
  return Math.max(wireBytes, Math.ceil(size / COMPRESSED_EXPANSION_LIMIT));
}

/** What the stream agreed on: its codec (undefined: plain only) and its decoded-size bound. */
export interface StreamCompression {
  codec: string | undefined;
  maxFrameBytes: number;
}

export interface ReceivedFrame {
  frame: StreamFrame;
  /** Set for a compressed frame: its codec and decoded size. */
  compressed?: { codec: string; size: number };
}

const MARKER = Buffer.from(`"${COMPRESSED_FRAME_TYPE}"`);

/**
 * Decodes a frame from a stream inbox: a plain frame as decodeFrame does, a compressed one by
 * checking its header against the stream (its codec, `size <= maxFrameBytes`), decompressing
 * into at most `size` bytes and decoding the data frame inside, whose stream id and number must
 * be the header's. A compressed frame whose size or content passes the bound is
 * PAYLOAD_TOO_LARGE (a decompression bomb never allocates more than the bound); any other
 * inconsistency is PROTOCOL_ERROR.
 */
export function decodeStreamFrame(bytes: Uint8Array, stream: StreamCompression): ReceivedFrame {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = buffer.indexOf(NEWLINE);
  // Cheap test first: only a header naming the type is parsed a second time.
  if (end < 0 || buffer.subarray(0, end).indexOf(MARKER) < 0) return { frame: decodeFrame(bytes) };
  let header: unknown;
  try {
    header = JSON.parse(buffer.subarray(0, end).toString("utf8"));
  } catch {
    return { frame: decodeFrame(bytes) };
  }
  if ((header as { type?: unknown })?.type !== COMPRESSED_FRAME_TYPE)
    return { frame: decodeFrame(bytes) };
  if (!checkHeader.Check(header)) {
    const first = checkHeader.Errors(header).First();
    throw new ProtocolError(
      `invalid ${COMPRESSED_FRAME_TYPE}: ${first?.path || "/"}: ${first?.message ?? "does not match the schema"}`,
    );
  }
  if (stream.codec === undefined) {
    throw new ProtocolError(`a compressed frame arrived on a stream that accepted no codec`);
  }
  if (header.codec !== stream.codec) {
    throw new ProtocolError(
      `a frame compressed with ${header.codec} on a stream that accepted ${stream.codec}`,
    );
  }
  if (header.size > stream.maxFrameBytes) {
    throw new DecompressionLimitError(
      `a compressed frame says it expands to ${header.size} bytes, over the stream's maxFrameBytes ${stream.maxFrameBytes}`,
    );
  }
  const inner = decompress(stream.codec as CompressionCodec, buffer.subarray(end + 1), header.size);
  const frame = decodeFrame(inner);
  if (frame.type !== MessageType.Data) {
    throw new ProtocolError(`a compressed frame holds ${frame.type}, not a data frame`);
  }
  if (frame.streamId !== header.streamId || frame.n !== header.n) {
    throw new ProtocolError(
      `a compressed frame ${header.n} of ${header.streamId} holds data frame ${frame.n} of ${frame.streamId}`,
    );
  }
  return { frame: frame as DataFrame, compressed: { codec: header.codec, size: header.size } };
}

function decompress(codec: CompressionCodec, body: Uint8Array, size: number): Uint8Array {
  let out: Uint8Array;
  try {
    if (codec === "zstd") {
      const lib = loadZstd();
      if (lib === null) throw new Error("zstd-napi is not installed");
      // One more byte than promised: content that fills it expands past its size.
      const dst = Buffer.allocUnsafe(size + 1);
      out = dst.subarray(0, lib.binding.decompress(dst, body));
    } else {
      out = brotliDecompressSync(body, { maxOutputLength: size + 1 });
    }
  } catch (error) {
    if (/too small|ERR_BUFFER_TOO_LARGE|Cannot create a Buffer larger/i.test(String(error))) {
      throw new DecompressionLimitError(
        `a compressed frame expands past its size of ${size} bytes`,
      );
    }
    throw new ProtocolError(`a ${codec} frame did not decompress: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (out.byteLength > size) {
    throw new DecompressionLimitError(`a compressed frame expands past its size of ${size} bytes`);
  }
  if (out.byteLength !== size) {
    throw new ProtocolError(
      `a compressed frame expands to ${out.byteLength} bytes, not its size of ${size}`,
    );
  }
  return out;
}
