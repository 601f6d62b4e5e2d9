// Compressed frames: codec choice, a round trip through each codec, and every way a compressed
// frame can be wrong, each a typed error (a bomb PAYLOAD_TOO_LARGE without allocating past the bound).
import { brotliCompressSync, constants } from "node:zlib";
import { describe, expect, it } from "vitest";
import { dataFrameEntries, encodeDataFrame } from "./codec.js";
import {
  availableCodecs,
  COMPRESSED_EXPANSION_LIMIT,
  COMPRESSED_FRAME_TYPE,
  type CompressionCodec,
  chooseCodec,
  compressDataFrame,
  decodeStreamFrame,
  frameCreditBytes,
} from "./compression.js";
import type { DataFrame } from "./schemas.js";

const STREAM = "c3RyZWFtLWNvbXByZXNzZWQ";
// Log-like lines (the protocol package does not depend on testkit's generator).
const lines = Array.from(
  { length: 400 },
  (_, i) =>
    `2026-11-28T15:30:${String(i % 60).padStart(2, "0")}.${String((i * 37) % 1000).padStart(3, "0")}Z INFO  [worker-${i % 8}] task finished job_id=j-${(i * 2654435761).toString(16).slice(-8)} elapsed_ms=${(i * 7919) % 100000} queue_depth=${(i * 31) % 500}`,
);
const entries = lines.map((line, i) => ({
  seq: 100 + i,
  stream: i % 7 === 0 ? ("stderr" as const) : ("stdout" as const),
  time: 1_732_790_000_000 + i * 3,
  line,
}));
const plain = encodeDataFrame(STREAM, 4, entries, false);
const MAX = 64 * 1024;

function compressed(header: object, body: Uint8Array): Uint8Array {
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), body]);
}

describe("compression", () => {
  it("has zstd (the optional native module is installed here) and brotli", () => {
    expect(availableCodecs()).toEqual(["zstd", "brotli"]);
  });

  it("chooses the first of our codecs that the requester offered, none for no offer", () => {
    expect(chooseCodec(["brotli", "zstd"], ["zstd", "brotli"])).toBe("zstd");
    expect(chooseCodec(["lz5", "brotli"], ["zstd", "brotli"])).toBe("brotli");
    expect(chooseCodec(["lz5"], ["zstd", "brotli"])).toBeUndefined();
    expect(chooseCodec([], ["zstd"])).toBeUndefined();
    expect(chooseCodec(undefined, ["zstd"])).toBeUndefined();
  });

  it.each(["zstd", "brotli"] as CompressionCodec[])(
    "%s: a data frame round-trips, several times smaller",
    (codec) => {
      const wire = compressDataFrame(codec, STREAM, 4, plain);
      expect(wire.byteLength * 3).toBeLessThan(plain.byteLength);
      const header = JSON.parse(Buffer.from(wire).subarray(0, wire.indexOf(10)).toString());
      expect(header).toEqual({
        type: COMPRESSED_FRAME_TYPE,
        streamId: STREAM,
        n: 4,
        codec,
        size: plain.byteLength,
      });
      const received = decodeStreamFrame(wire, { codec, maxFrameBytes: MAX });
      expect(received.compressed).toEqual({ codec, size: plain.byteLength });
      expect(received.frame.n).toBe(4);
      expect(dataFrameEntries(received.frame as DataFrame)).toEqual(entries);
    },
  );

  it("sends a frame that would not shrink as it is", () => {
    const tiny = encodeDataFrame(
      STREAM,
      1,
      [{ seq: 1, stream: "stdout", time: 5, line: "x" }],
      false,
    );
    expect(compressDataFrame("zstd", STREAM, 1, tiny)).toBe(tiny);
  });

  it("decodes plain frames as before, on any stream", () => {
    for (const codec of [undefined, "zstd"]) {
      const received = decodeStreamFrame(plain, { codec, maxFrameBytes: MAX });
      expect(received.compressed).toBeUndefined();
      expect(dataFrameEntries(received.frame as DataFrame)).toEqual(entries);
    }
  });

  it("charges credit by wire bytes, and at least size / 16", () => {
    expect(frameCreditBytes(1000, undefined)).toBe(1000);
    expect(frameCreditBytes(1000, 5000)).toBe(1000);
    expect(frameCreditBytes(100, 64 * 1024)).toBe((64 * 1024) / COMPRESSED_EXPANSION_LIMIT);
  });

  it("rejects a compressed frame on a stream without a codec, or with another codec", () => {
    const wire = compressDataFrame("zstd", STREAM, 4, plain);
    expect(() => decodeStreamFrame(wire, { codec: undefined, maxFrameBytes: MAX })).toThrow(
      expect.objectContaining({ code: "PROTOCOL_ERROR" }),
    );
    expect(() => decodeStreamFrame(wire, { codec: "brotli", maxFrameBytes: MAX })).toThrow(
      expect.objectContaining({ code: "PROTOCOL_ERROR" }),
    );
  });

  it.each(["zstd", "brotli"] as CompressionCodec[])(
    "%s: a bomb (a size over maxFrameBytes, or content past its size) is PAYLOAD_TOO_LARGE",
    (codec) => {
      const wire = compressDataFrame(codec, STREAM, 4, plain);
      expect(() => decodeStreamFrame(wire, { codec, maxFrameBytes: plain.byteLength - 1 })).toThrow(
        expect.objectContaining({ code: "PAYLOAD_TOO_LARGE" }),
      );
      // 64 MiB of zeros in a few KiB, claiming to be small.
      const zeros = Buffer.alloc(64 * 1024 * 1024);
      const body =
        codec === "brotli"
          ? brotliCompressSync(zeros, { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } })
          : Buffer.from(compressDataFrame("zstd", STREAM, 4, zeros)).subarray(
              Buffer.from(compressDataFrame("zstd", STREAM, 4, zeros)).indexOf(10) + 1,
            );
      expect(body.byteLength).toBeLessThan(64 * 1024);
      const bomb = compressed(
        { type: COMPRESSED_FRAME_TYPE, streamId: STREAM, n: 4, codec, size: 1000 },
        body,
      );
      const before = process.memoryUsage().rss;
      expect(() => decodeStreamFrame(bomb, { codec, maxFrameBytes: MAX })).toThrow(
        expect.objectContaining({ code: "PAYLOAD_TOO_LARGE" }),
      );
      expect(process.memoryUsage().rss - before).toBeLessThan(32 * 1024 * 1024);
    },
  );

  it("rejects a body that is not the codec's, a short one, and a data frame of another number", () => {
    const bad = (header: object, body: Uint8Array) =>
      decodeStreamFrame(compressed(header, body), { codec: "brotli", maxFrameBytes: MAX });
    const header = { type: COMPRESSED_FRAME_TYPE, streamId: STREAM, n: 4, codec: "brotli" };
    expect(() => bad({ ...header, size: 10 }, Buffer.from("not brotli at all"))).toThrow(
      expect.objectContaining({ code: "PROTOCOL_ERROR" }),
    );
    expect(() => bad({ ...header, size: plain.byteLength + 5 }, brotliCompressSync(plain))).toThrow(
      expect.objectContaining({ code: "PROTOCOL_ERROR" }),
    );
    expect(() =>
      bad({ ...header, n: 5, size: plain.byteLength }, brotliCompressSync(plain)),
    ).toThrow(expect.objectContaining({ code: "PROTOCOL_ERROR" }));
    expect(() => bad({ ...header, size: -1 }, brotliCompressSync(plain))).toThrow(
      expect.objectContaining({ code: "PROTOCOL_ERROR" }),
    );
    const end = Buffer.from(
      JSON.stringify({ type: "ExecutionLogs.End/v1", streamId: STREAM, n: 4, lastSeq: 1 }),
    );
    expect(() => bad({ ...header, size: end.byteLength }, brotliCompressSync(end))).toThrow(
      expect.objectContaining({ code: "PROTOCOL_ERROR" }),
    );
  });
});
