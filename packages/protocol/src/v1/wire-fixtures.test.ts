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
import { type DecodedDataFrame, MessageType, type MessageV1 } from "./schemas.js";

const dir = new URL("../../fixtures/v1/wire/", import.meta.url);
const names = readdirSync(dir)
  .filter((f) => f.endsWith(".wire"))
  .map((f) => f.slice(0, -".wire".length))
  .sort();
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
    expect(json).toEqual(names);
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
