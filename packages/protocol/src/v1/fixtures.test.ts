import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { dataFrameEntries, decodeFrame, decodeMessage, encode, encodeDataFrame } from "./codec.js";
import type { DecodedDataFrame } from "./schemas.js";

const dir = new URL("../../fixtures/v1/", import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith(".json"));

describe("frozen v1 fixtures", () => {
  it("has an example of every message type", () => {
    const types = new Set(
      files.map(
        (f) => (JSON.parse(readFileSync(new URL(f, dir), "utf8")) as { type: string }).type,
      ),
    );
    expect([...types].sort()).toEqual(
      [
        "ExecutionLogs.Accepted/v1",
        "ExecutionLogs.Control/v1",
        "ExecutionLogs.Data/v1",
        "ExecutionLogs.End/v1",
        "ExecutionLogs.Error/v1",
        "ExecutionLogs.Heartbeat/v1",
        "ExecutionLogs.HeartbeatResponse/v1",
        "ExecutionLogs.Request/v1",
        "ExecutionLogs.Notice/v1",
      ].sort(),
    );
  });

  it("decodes the body form of a data frame (data.frame) to the same frame as its JSON form", () => {
    const body = readFileSync(new URL("data.frame", dir));
    const json = readFileSync(new URL("data.json", dir));
    expect(body.toString("utf8")).toContain("}\nstarting job\nwarning: low disk\n");
    expect(decodeFrame(body)).toEqual(decodeFrame(json));
    // What a producer sends is the body form, byte for byte.
    const frame = decodeFrame(json) as DecodedDataFrame;
    expect(
      Buffer.from(encodeDataFrame(frame.streamId, frame.n, dataFrameEntries(frame), true)),
    ).toEqual(body);
  });

  it.each(files)("decodes %s and encodes it back to the same message", (file) => {
    const bytes = readFileSync(new URL(file, dir));
    const decoded = decodeMessage(bytes);
    // A data frame comes out with its decoded times as well (checked below).
    const { time: _decoded, ...wire } = decoded as DecodedDataFrame;
    expect(wire).toEqual(JSON.parse(bytes.toString("utf8")));
    expect(JSON.parse(Buffer.from(encode(decoded)).toString("utf8"))).toEqual(wire);
    expect(decodeMessage(encode(decoded))).toEqual(decoded);
  });

  it("decodes each data fixture's capture times from timeBase and timeDelta", () => {
    const times = (file: string) =>
      (decodeMessage(readFileSync(new URL(file, dir))) as DecodedDataFrame).time;
    expect(times("data.json")).toEqual([1732790000123, 1732790000125, 1732790000130]);
    expect(times("data-continued.json")).toEqual([1732790000130, 1732790000140]);
    // 31 ms is past one character's ±15: "+B" is two.
    expect(times("data-filtered.json")).toEqual([1732790000200, 1732790000231, 1732790000231]);
  });
});
