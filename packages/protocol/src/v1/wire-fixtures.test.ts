// Wire-exact fixtures (fixtures/v1/wire): each NAME.wire is a message's exact NATS payload and
// NAME.json the value our decoders give for it. Both directions are checked, so neither the
// files nor the codec can drift: decoding the bytes gives exactly the JSON, and encoding the JSON
// gives exactly the bytes.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  dataFrameEntries,
  decodeControl,
  decodeFrame,
  decodeHeartbeat,
  decodeHeartbeatResponse,
  decodeLocate,
  decodeLocateAnswer,
  decodeMessage,
  decodeRequest,
  encode,
  encodeDataFrame,
} from "./codec.js";
import { COMPRESSED_FRAME_TYPE, compressDataFrame, decodeStreamFrame } from "./compression.js";
import { type DecodedDataFrame, MessageType, type MessageV1 } from "./schemas.js";

const dir = new URL("../../fixtures/v1/wire/", import.meta.url);
const allNames = readdirSync(dir)
  .filter((f) => f.endsWith(".wire"))
  .map((f) => f.slice(0, -".wire".length))
  .sort();
// Compressed frames (compressed-*) have their own checks below: their body is the codec's.
const names = allNames.filter((name) => !name.startsWith("compressed-"));
const compressedNames = allNames.filter((name) => name.startsWith("compressed-"));
const wire = (name: string): Buffer => readFileSync(new URL(`${name}.wire`, dir));
const decoded = (name: string): MessageV1 =>
  JSON.parse(readFileSync(new URL(`${name}.json`, dir), "utf8")) as MessageV1;

/** The decoder a receiver uses for each kind, on the subject it arrives on. */
const kindDecoder: Record<string, (bytes: Uint8Array) => unknown> = {
  [MessageType.Request]: decodeRequest,
  [MessageType.Accepted]: decodeFrame,
  [MessageType.Data]: decodeFrame,
  [MessageType.End]: decodeFrame,
  [MessageType.Error]: decodeFrame,
  [MessageType.Control]: decodeControl,
  [MessageType.Heartbeat]: decodeHeartbeat,
  [MessageType.HeartbeatResponse]: decodeHeartbeatResponse,
  [MessageType.Notice]: decodeFrame,
  [MessageType.Locate]: decodeLocate,
  [MessageType.Located]: decodeLocateAnswer,
};

/** The bytes our encoder writes for a decoded message: data frames take the producer's path. */
function encoded(message: MessageV1): Uint8Array {
  if (message.type !== MessageType.Data) return encode(message);
  const frame = message as DecodedDataFrame;
  return encodeDataFrame(frame.streamId, frame.n, dataFrameEntries(frame), frame.partial === true);
}

describe("wire-exact v1 fixtures", () => {
  it("pairs every .wire with a .json and the other way round", () => {
    const json = readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .map((f) => f.slice(0, -".json".length))
      .sort();
    expect(json).toEqual(allNames);
    expect(names.length).toBeGreaterThanOrEqual(20);
  });

  it("covers every message kind and every data-frame form", () => {
    const messages = names.map((name) => ({ name, message: decoded(name), bytes: wire(name) }));
    expect(new Set(messages.map((m) => m.message.type))).toEqual(
      new Set(Object.values(MessageType)),
    );
    const data = messages.filter((m) => m.message.type === MessageType.Data);
    const hasBody = (m: (typeof data)[number]) => m.bytes.includes(0x0a);
    const frame = (m: (typeof data)[number]) => m.message as DecodedDataFrame;
    // Body form with firstSeq, body form with the seq column, the line (JSON array) form for a
    // frame holding a line with a newline, a partial frame and its continuation.
    expect(data.some((m) => hasBody(m) && frame(m).firstSeq !== undefined)).toBe(true);
    expect(data.some((m) => hasBody(m) && frame(m).seq !== undefined)).toBe(true);
    expect(data.some((m) => !hasBody(m) && frame(m).line.some((line) => line.includes("\n")))).toBe(
      true,
    );
    expect(data.some((m) => frame(m).partial === true)).toBe(true);
    // An Error without n (a rejection) and one with n (a stream's last frame).
    const errors = messages.filter((m) => m.message.type === MessageType.Error);
    expect(new Set(errors.map((m) => "n" in m.message))).toEqual(new Set([true, false]));
  });

  it("uses the line form only for frames holding a line with a newline", () => {
    for (const name of names) {
      const message = decoded(name);
      if (message.type !== MessageType.Data) continue;
      const lineForm = !wire(name).includes(0x0a);
      expect(lineForm, name).toBe((message as DecodedDataFrame).line.some((l) => l.includes("\n")));
    }
  });

  it.each(names)("%s: decodes to exactly its .json", (name) => {
    const bytes = wire(name);
    const expected = decoded(name);
    expect(decodeMessage(bytes)).toStrictEqual(expected);
    const decode = kindDecoder[expected.type];
    expect(decode, expected.type).toBeDefined();
    expect(decode!(bytes)).toStrictEqual(expected);
  });

  it.each(names)("%s: our encoder writes exactly its bytes", (name) => {
    expect(Buffer.from(encoded(decoded(name)))).toEqual(wire(name));
  });

  it("a wire file is compact JSON: no raw newline except a data frame's body separator", () => {
    for (const name of names) {
      const text = wire(name).toString("utf8");
      const newline = text.indexOf("\n");
      if (decoded(name).type !== MessageType.Data || newline < 0) {
        expect(newline, name).toBe(-1);
        continue;
      }
      // The header is one compact JSON object; the body holds exactly `stream.length` lines.
      const header = JSON.parse(text.slice(0, newline)) as { stream: string };
      expect(JSON.stringify(header)).toBe(text.slice(0, newline));
      expect(text.slice(newline + 1).split("\n")).toHaveLength(header.stream.length);
    }
  });
});

/** A compressed frame's .json: its header's fields, and in `frame` the data frame it decodes to. */
interface CompressedFixture {
  type: string;
  streamId: string;
  n: number;
  codec: "zstd" | "brotli";
  size: number;
  frame: DecodedDataFrame;
}

describe("wire-exact v1 fixtures: compressed frames", () => {
  const fixture = (name: string) =>
    JSON.parse(readFileSync(new URL(`${name}.json`, dir), "utf8")) as CompressedFixture;

  it("has one for each codec of v1", () => {
    expect(compressedNames.map((name) => fixture(name).codec).sort()).toEqual(["brotli", "zstd"]);
  });

  it.each(compressedNames)("%s: decodes to exactly its .json", (name) => {
    const expected = fixture(name);
    const { frame, compressed } = decodeStreamFrame(wire(name), {
      codec: expected.codec,
      maxFrameBytes: 65_536,
    });
    const { frame: expectedFrame, ...header } = expected;
    expect(header.type).toBe(COMPRESSED_FRAME_TYPE);
    expect(compressed).toEqual({ codec: header.codec, size: header.size });
    expect(frame).toStrictEqual(expectedFrame);
  });

  it.each(compressedNames)(
    "%s: the header is exact compact JSON, and our encoder writes a frame that decodes the same",
    (name) => {
      const expected = fixture(name);
      const { frame: inner, ...header } = expected;
      const bytes = wire(name);
      const newline = bytes.indexOf(0x0a);
      expect(bytes.subarray(0, newline).toString("utf8")).toBe(JSON.stringify(header));
      // The compressed bytes are the codec library's own (another zstd may write others); the
      // data frame inside is exact.
      const plain = encodeDataFrame(inner.streamId, inner.n, dataFrameEntries(inner), false);
      expect(plain.byteLength).toBe(header.size);
      const ours = compressDataFrame(expected.codec, inner.streamId, inner.n, plain);
      const decoded = decodeStreamFrame(ours, { codec: expected.codec, maxFrameBytes: 65_536 });
      expect(decoded.frame).toStrictEqual(inner);
    },
  );
});
