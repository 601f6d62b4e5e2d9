import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { dataFrameEntries, decodeFrame, decodeMessage, encode, encodeDataFrame } from "./codec.js";
import type { DataFrame } from "./schemas.js";

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
      ].sort(),
    );
  });

  it("decodes the body form of a data frame (data.frame) to the same frame as its JSON form", () => {
    const body = readFileSync(new URL("data.frame", dir));
    const json = readFileSync(new URL("data.json", dir));
    expect(body.toString("utf8")).toContain("}\nstarting job\nwarning: low disk\n");
    expect(decodeFrame(body)).toEqual(decodeFrame(json));
    // What a producer sends is the body form, byte for byte.
    const frame = decodeFrame(json) as DataFrame;
    expect(
      Buffer.from(encodeDataFrame(frame.streamId, frame.n, dataFrameEntries(frame), true)),
    ).toEqual(body);
  });

  it.each(files)("decodes %s and encodes it back to the same message", (file) => {
    const bytes = readFileSync(new URL(file, dir));
    const decoded = decodeMessage(bytes);
    expect(decoded).toEqual(JSON.parse(bytes.toString("utf8")));
    expect(decodeMessage(encode(decoded))).toEqual(decoded);
  });
});
