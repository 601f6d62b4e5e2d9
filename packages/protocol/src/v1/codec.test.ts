import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { TailwireError } from "../errors.js";
import {
  dataFrameOverhead,
  decodeControl,
  decodeFrame,
  decodeHeartbeat,
  decodeHeartbeatResponse,
  decodeRequest,
  encode,
  encodeDataFrame,
  encodeEntry,
  tryDecode,
} from "./codec.js";
import type { LogEntry, LogRequest } from "./schemas.js";

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`../../fixtures/v1/${name}.json`, import.meta.url), "utf8"));
const bytes = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const request = fixture("request-tail-follow-filtered");

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TailwireError);
    return (error as TailwireError).code;
  }
  throw new Error("expected a TailwireError, nothing was thrown");
}

describe("decodeRequest rejects malformed input with the right code", () => {
  it.each([
    ["invalid JSON", new TextEncoder().encode("{nope"), "BAD_REQUEST"],
    ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), "BAD_REQUEST"],
    ["a JSON array", bytes([1, 2]), "BAD_REQUEST"],
    ["JSON null", bytes(null), "BAD_REQUEST"],
    ["no type", bytes({ ...request, type: undefined }), "BAD_REQUEST"],
    ["a numeric type", bytes({ ...request, type: 1 }), "BAD_REQUEST"],
    [
      "a future version",
      bytes({ ...request, type: "ExecutionLogs.Request/v2" }),
      "UNSUPPORTED_VERSION",
    ],
    [
      "an unknown message type",
      bytes({ type: "ExecutionLogs.Teleport/v1" }),
      "UNSUPPORTED_VERSION",
    ],
    ["a known type on the wrong subject", bytes(fixture("accepted")), "BAD_REQUEST"],
    ["an oversized payload", bytes({ ...request, junk: "x".repeat(20_000) }), "PAYLOAD_TOO_LARGE"],
    ["a negative tail", bytes({ ...request, tail: -1 }), "BAD_REQUEST"],
    ["a fractional tail", bytes({ ...request, tail: 1.5 }), "BAD_REQUEST"],
    ["an enormous tail", bytes({ ...request, tail: 1e12 }), "BAD_REQUEST"],
    ["a string follow", bytes({ ...request, follow: "false" }), "BAD_REQUEST"],
    [
      "a path separator in the execution id",
      bytes({ ...request, executionId: "../etc/passwd" }),
      "BAD_REQUEST",
    ],
    ["'..' as execution id", bytes({ ...request, executionId: ".." }), "BAD_REQUEST"],
    [
      "a NUL byte in the execution id",
      bytes({ ...request, executionId: "e-1\u0000" }),
      "BAD_REQUEST",
    ],
    ["a 10 KB execution id", bytes({ ...request, executionId: "e".repeat(10_000) }), "BAD_REQUEST"],
    ["a short (guessable) stream id", bytes({ ...request, streamId: "abc" }), "BAD_REQUEST"],
    [
      "a wildcard heartbeat subject",
      bytes({ ...request, heartbeatSubject: "_TW.*.hb" }),
      "BAD_REQUEST",
    ],
    ["an unknown stream filter", bytes({ ...request, streams: ["stdin"] }), "BAD_REQUEST"],
    [
      "a duplicated stream filter",
      bytes({ ...request, streams: ["stdout", "stdout"] }),
      "BAD_REQUEST",
    ],
    ["a tiny window", bytes({ ...request, window: 10 }), "BAD_REQUEST"],
    ["a dotted node id", bytes({ ...request, targetPeerId: "node.3" }), "BAD_REQUEST"],
  ])("%s", (_name, input, code) => {
    expect(codeOf(() => decodeRequest(input))).toBe(code);
  });

  const required = [
    "type",
    "sourcePeerId",
    "targetPeerId",
    "executionId",
    "streamId",
    "follow",
    "heartbeatSubject",
    "heartbeatIntervalMs",
    "window",
  ];
  it.each(required)("missing required field %s", (field) => {
    const { [field]: _dropped, ...rest } = request;
    expect(codeOf(() => decodeRequest(bytes(rest)))).toBe("BAD_REQUEST");
  });

  it("names the offending field in the message", () => {
    const result = tryDecode(decodeRequest, bytes({ ...request, tail: -5 }));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message).toContain("/tail");
  });

  it("ignores unknown optional fields (forward compatibility within v1)", () => {
    const decoded: LogRequest = decodeRequest(bytes({ ...request, futureOption: { x: 1 } }));
    expect(decoded.executionId).toBe(request.executionId);
  });
});

describe("other decoders", () => {
  it("decodeFrame accepts every frame kind and rejects requests", () => {
    for (const name of ["accepted", "data", "end", "error-not-found"]) {
      expect(decodeFrame(bytes(fixture(name))).type).toBe(fixture(name).type);
    }
    expect(codeOf(() => decodeFrame(bytes(request)))).toBe("BAD_REQUEST");
  });

  it("decodeFrame rejects an entry with a bad stream name or a zero seq", () => {
    const data = fixture("data") as { entries: LogEntry[] };
    const bad = { ...data, entries: [{ ...data.entries[0], stream: "stdin" }] };
    expect(codeOf(() => decodeFrame(bytes(bad)))).toBe("BAD_REQUEST");
    const zero = { ...data, entries: [{ ...data.entries[0], seq: 0 }] };
    expect(codeOf(() => decodeFrame(bytes(zero)))).toBe("BAD_REQUEST");
  });

  it("decodes control, heartbeat and heartbeat response and rejects them crossed", () => {
    expect(decodeControl(bytes(fixture("control-cancel"))).cancel).toHaveLength(2);
    expect(decodeHeartbeat(bytes(fixture("heartbeat"))).streamIds).toHaveLength(2);
    expect(
      decodeHeartbeatResponse(bytes(fixture("heartbeat-response"))).unknownStreamIds,
    ).toHaveLength(1);
    expect(codeOf(() => decodeControl(bytes(fixture("heartbeat"))))).toBe("BAD_REQUEST");
    expect(codeOf(() => decodeHeartbeat(bytes(fixture("control-credit"))))).toBe("BAD_REQUEST");
  });

  it("rejects a credit grant of zero or negative bytes", () => {
    const message = {
      ...fixture("control-credit"),
      credit: [{ streamId: request.streamId, bytes: 0 }],
    };
    expect(codeOf(() => decodeControl(bytes(message)))).toBe("BAD_REQUEST");
  });
});

describe("encoding", () => {
  it("refuses to encode an invalid message", () => {
    const invalid = { ...request, tail: -1 } as unknown as LogRequest;
    expect(codeOf(() => encode(invalid))).toBe("BAD_REQUEST");
  });

  it("builds data frames from pre-encoded entries that decode back, with exact overhead", () => {
    const entries: LogEntry[] = [
      { seq: 1, stream: "stdout", time: 1, line: 'quote " and \\ and \n and ünïcödé' },
      { seq: 2, stream: "stderr", time: 2, line: "" },
    ];
    const jsons = entries.map(encodeEntry);
    const frame = encodeDataFrame(request.streamId as string, 7, jsons);
    const decoded = decodeFrame(frame);
    expect(decoded).toEqual({
      type: "ExecutionLogs.Data/v1",
      streamId: request.streamId,
      n: 7,
      entries,
    });
    const entryBytes = jsons.reduce((sum, j) => sum + Buffer.byteLength(j), 0) + jsons.length - 1;
    expect(frame.byteLength).toBe(dataFrameOverhead(request.streamId as string, 7) + entryBytes);
  });
});
