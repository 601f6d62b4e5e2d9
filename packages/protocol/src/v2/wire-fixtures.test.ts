// Wire-exact fixtures of v2 (fixtures/v2/wire): decoding each NAME.wire gives exactly NAME.json,
// and encoding the JSON gives exactly the bytes, so neither the files nor the codec can drift.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { dataFrameEntries } from "../v1/codec.js";
import type { DataFrame } from "../v1/schemas.js";
import {
  decodeControlV2,
  decodeFrameV2,
  decodeHeartbeatResponseV2,
  decodeHeartbeatV2,
  decodeLocateAnswerV2,
  decodeLocateV2,
  decodeMessageV2,
  decodeRequestV2,
  encodeDataFrameV2,
  encodeV2,
} from "./codec.js";
import { type DataFrameV2, MessageTypeV2, type MessageV2 } from "./schemas.js";

const dir = new URL("../../fixtures/v2/wire/", import.meta.url);
const names = readdirSync(dir)
  .filter((f) => f.endsWith(".wire"))
  .map((f) => f.slice(0, -".wire".length))
  .sort();
const wire = (name: string): Buffer => readFileSync(new URL(`${name}.wire`, dir));
const decoded = (name: string): MessageV2 =>
  JSON.parse(readFileSync(new URL(`${name}.json`, dir), "utf8")) as MessageV2;

/** The decoder a receiver uses for each kind, on the subject it arrives on. */
const kindDecoder: Record<string, (bytes: Uint8Array) => unknown> = {
  [MessageTypeV2.Request]: decodeRequestV2,
  [MessageTypeV2.Accepted]: decodeFrameV2,
  [MessageTypeV2.Data]: decodeFrameV2,
  [MessageTypeV2.End]: decodeFrameV2,
  [MessageTypeV2.Error]: decodeFrameV2,
  [MessageTypeV2.Notice]: decodeFrameV2,
  [MessageTypeV2.Control]: decodeControlV2,
  [MessageTypeV2.Heartbeat]: decodeHeartbeatV2,
  [MessageTypeV2.HeartbeatResponse]: decodeHeartbeatResponseV2,
  [MessageTypeV2.Locate]: decodeLocateV2,
  [MessageTypeV2.Located]: decodeLocateAnswerV2,
};

function encoded(message: MessageV2): Uint8Array {
  if (message.type !== MessageTypeV2.Data) return encodeV2(message);
  const frame = message as DataFrameV2;
  // The columns are v1's: the entries come out the same way.
  const entries = dataFrameEntries(frame as unknown as DataFrame);
  return encodeDataFrameV2(frame.streamId, frame.n, entries, frame.partial === true);
}

describe("wire-exact v2 fixtures", () => {
  it("pair every .wire with a .json and cover every kind and data-frame form", () => {
    const json = readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .map((f) => f.slice(0, -".json".length))
      .sort();
    expect(json).toEqual(names);
    const messages = names.map((name) => ({ message: decoded(name), bytes: wire(name) }));
    expect(new Set(messages.map((m) => m.message.type))).toEqual(
      new Set(Object.values(MessageTypeV2)),
    );
    const data = messages.filter((m) => m.message.type === MessageTypeV2.Data);
    const frame = (m: (typeof data)[number]) => m.message as DataFrameV2;
    expect(data.some((m) => m.bytes.includes(0x0a) && frame(m).firstSeq !== undefined)).toBe(true);
    expect(data.some((m) => m.bytes.includes(0x0a) && frame(m).seq !== undefined)).toBe(true);
    expect(data.some((m) => !m.bytes.includes(0x0a))).toBe(true);
    expect(data.some((m) => frame(m).partial === true)).toBe(true);
  });

  it("carries no identity in a payload: v2 puts them in subjects", () => {
    for (const name of names) {
      const text = wire(name).toString("utf8");
      for (const field of [
        "sourcePeerId",
        "targetPeerId",
        "computeNodeId",
        "requesterNodeId",
        "heartbeatSubject",
      ]) {
        expect(text, `${name} has ${field}`).not.toContain(`"${field}"`);
      }
    }
  });

  it.each(names)("%s: decodes to exactly its .json", (name) => {
    const bytes = wire(name);
    const expected = decoded(name);
    expect(decodeMessageV2(bytes)).toStrictEqual(expected);
    expect(kindDecoder[expected.type]!(bytes)).toStrictEqual(expected);
  });

  it.each(names)("%s: our encoder writes exactly its bytes", (name) => {
    expect(Buffer.from(encoded(decoded(name)))).toEqual(wire(name));
  });
});
