// Measures compression codecs on what a compressed stream would carry: real data frames (the
// protocol's encoder, up to 64 KiB each) of log-like text from testkit's LogTextGenerator. For
// each codec: the ratio (frame bytes / compressed bytes) and the CPU per line to compress and to
// decompress, each frame on its own and, where the codec allows, with a stream-wide context (each
// frame flushed, the next compressed against what came before) or with the previous frame as a
// dictionary. One process, single-threaded; CPU time from process.cpuUsage, best of 3 passes.
import zlib from "node:zlib";
import { encodeDataFrame } from "@tailwire/protocol";
import { LogTextGenerator } from "@tailwire/testkit";
import * as lz4 from "lz4-napi";
import * as zstd from "zstd-napi";
import zstdBinding from "zstd-napi/binding.js";
import { round } from "./lib.mjs";

export const description =
  "compression codecs on 64 KiB data frames of log-like text: ratio and CPU per line (deflate, brotli, zstd, LZ4)";

const FRAME_BYTES = 64 * 1024;

/** The frames a stream of these lines would send: as many entries per frame as fit. */
function framesOf(lines) {
  const frames = [];
  let entries = [];
  let bytes = 200;
  let seq = 0;
  const seal = () => {
    frames.push(
      Buffer.from(encodeDataFrame("bench-stream-0000000000", frames.length + 1, entries, false)),
    );
    entries = [];
    bytes = 200;
  };
  let time = Date.UTC(2026, 10, 28);
  for (const line of lines) {
    if (bytes + line.length + 3 > FRAME_BYTES) seal();
    time += 7;
    entries.push({ seq: ++seq, stream: "stdout", time, line });
    bytes += line.length + 3;
  }
  if (entries.length > 0) seal();
  return frames;
}

/** A zstd context across the stream: each frame is compressed and flushed (ZSTD_e_flush). */
function zstdStream(level) {
  const out = Buffer.alloc(zstdBinding.compressBound(FRAME_BYTES) + 1024);
  const dst = Buffer.alloc(FRAME_BYTES);
  return {
    encoder() {
      const cctx = new zstdBinding.CCtx();
      cctx.setParameter(zstdBinding.CParameter.compressionLevel, level);
      return (frame) => {
        const [left, produced, consumed] = cctx.compressStream2(
          out,
          frame,
          zstdBinding.EndDirective.flush,
        );
        if (left !== 0 || consumed !== frame.length) throw new Error("zstd: flush incomplete");
        return Buffer.from(out.subarray(0, produced));
      };
    },
    decoder() {
      const dctx = new zstdBinding.DCtx();
      return (bytes) => {
        const [, produced, consumed] = dctx.decompressStream(dst, bytes);
        if (consumed !== bytes.length) throw new Error("zstd: input left over");
        return Buffer.from(dst.subarray(0, produced));
      };
    },
  };
}

function perFrame(compress, decompress) {
  return { encoder: () => compress, decoder: () => decompress };
}

/** LZ4 blocks, each compressed with the previous frame (uncompressed) as its dictionary. */
const lz4PreviousFrame = {
  encoder() {
    let previous;
    return (frame) => {
      const out = previous ? lz4.compressSync(frame, previous) : lz4.compressSync(frame);
      previous = frame;
      return out;
    };
  },
  decoder() {
    let previous;
    return (bytes) => {
      const out = previous ? lz4.uncompressSync(bytes, previous) : lz4.uncompressSync(bytes);
      previous = out;
      return out;
    };
  },
};

const brotli = (quality) =>
  perFrame(
    (f) =>
      zlib.brotliCompressSync(f, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: quality } }),
    (b) => zlib.brotliDecompressSync(b),
  );

const CODECS = [
  [
    "deflate (zlib) level 1",
    "frame",
    perFrame(
      (f) => zlib.deflateRawSync(f, { level: 1 }),
      (b) => zlib.inflateRawSync(b),
    ),
  ],
  [
    "deflate (zlib) level 6",
    "frame",
    perFrame(
      (f) => zlib.deflateRawSync(f, { level: 6 }),
      (b) => zlib.inflateRawSync(b),
    ),
  ],
  ["brotli (zlib) quality 1", "frame", brotli(1)],
  ["brotli (zlib) quality 4", "frame", brotli(4)],
  [
    "LZ4 block (lz4-napi)",
    "frame",
    perFrame(
      (f) => lz4.compressSync(f),
      (b) => lz4.uncompressSync(b),
    ),
  ],
  ["LZ4 block (lz4-napi)", "previous frame as dictionary", lz4PreviousFrame],
  ...[-5, -1, 1, 3].map((level) => [
    `zstd level ${level} (zstd-napi)`,
    "frame",
    perFrame(
      (f) => zstd.compress(f, { compressionLevel: level }),
      (b) => zstd.decompress(b),
    ),
  ]),
  ...[-1, 1, 3].map((level) => [
    `zstd level ${level} (zstd-napi)`,
    "stream-wide context",
    zstdStream(level),
  ]),
];

const cpuUs = (since) => {
  const used = process.cpuUsage(since);
  return used.user + used.system;
};

function measure(frames, lineCount, codec, passes) {
  let best;
  for (let pass = 0; pass < passes; pass++) {
    const compress = codec.encoder();
    const c0 = process.cpuUsage();
    const compressed = frames.map((f) => compress(f));
    const compressUs = cpuUs(c0);
    const decompress = codec.decoder();
    const d0 = process.cpuUsage();
    const restored = compressed.map((b) => decompress(b));
    const decompressUs = cpuUs(d0);
    for (let i = 0; i < frames.length; i++)
      if (!restored[i].equals(frames[i])) throw new Error(`frame ${i} did not round-trip`);
    const bytes = compressed.reduce((sum, b) => sum + b.length, 0);
    const figures = { bytes, compressUs, decompressUs };
    if (!best || compressUs + decompressUs < best.compressUs + best.decompressUs) best = figures;
  }
  return {
    ratio: frames.reduce((sum, f) => sum + f.length, 0) / best.bytes,
    compressUsPerLine: best.compressUs / lineCount,
    decompressUsPerLine: best.decompressUs / lineCount,
  };
}

export async function run({ quick }) {
  const lineCount = quick ? 50_000 : 500_000;
  const lines = new LogTextGenerator({ seed: 21 }).lines(lineCount);
  const frames = framesOf(lines);
  const frameBytes = frames.reduce((sum, f) => sum + f.length, 0);
  const results = [];
  for (const [name, context, codec] of CODECS) {
    results.push({ codec: name, context, ...measure(frames, lineCount, codec, quick ? 2 : 3) });
  }
  return {
    lines: lineCount,
    frames: frames.length,
    bytesPerLine: frameBytes / lineCount,
    results,
    table: results.map((r) => ({
      codec: r.codec,
      context: r.context,
      ratio: round(r.ratio, 2),
      "compress µs/line": round(r.compressUsPerLine, 3),
      "decompress µs/line": round(r.decompressUsPerLine, 3),
      "wire bytes/line": round(frameBytes / lineCount / r.ratio, 1),
    })),
  };
}
