import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { TailwireError } from "../errors.js";
import {
  dataFrameEntries,
  decodeControl,
  decodeFrame,
  decodeHeartbeat,
  decodeHeartbeatResponse,
  decodeRequest,
  encode,
  encodeDataFrame,
  tryDecode,
} from "./codec.js";
import { LINE_COLUMN_LAYOUT } from "./data-frame-size.js";
import type { DecodedDataFrame, LogEntry, LogRequest } from "./schemas.js";
import { decodeTimeDeltas, deltaChars as timeDeltaChars } from "./time-deltas.js";

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

  it("decodeFrame reads both forms of seq: a column, or the first of consecutive ones", () => {
    expect(
      dataFrameEntries(decodeFrame(bytes(fixture("data"))) as DecodedDataFrame).map((e) => e.seq),
    ).toEqual([1, 2, 3]);
    expect(
      dataFrameEntries(decodeFrame(bytes(fixture("data-filtered"))) as DecodedDataFrame).map(
        (e) => e.seq,
      ),
    ).toEqual([4, 7, 8]);
  });

  const withoutSeq = (name: string): Record<string, unknown> => {
    const { seq: _seq, firstSeq: _firstSeq, ...rest } = fixture(name) as Record<string, unknown>;
    return rest;
  };

  it.each([
    ["a bad stream character", { stream: "oxo" }],
    ["a zero seq", { seq: [0, 2, 3] }],
    ["a decreasing seq", { seq: [1, 3, 2] }],
    ["a repeated seq", { seq: [1, 1, 2] }],
    ["a seq column longer than the stream column", { seq: [1, 2, 3, 4] }],
    ["a zero firstSeq", { firstSeq: 0 }],
    ["a fractional firstSeq", { firstSeq: 1.5 }],
    ["a firstSeq whose last seq is not a safe integer", { firstSeq: Number.MAX_SAFE_INTEGER - 1 }],
    ["both seq and firstSeq", { seq: [1, 2, 3], firstSeq: 1 }],
    ["neither seq nor firstSeq", {}],
    ["a timeDelta with a delta too few", { seq: [1, 2, 3], timeDelta: "AE" }],
    ["a timeDelta with a delta too many", { seq: [1, 2, 3], timeDelta: "AEKA" }],
    ["a timeDelta outside base64", { seq: [1, 2, 3], timeDelta: "AE=" }],
    ["a timeDelta cut short", { seq: [1, 2, 3], timeDelta: "AEg" }],
    [
      "a time column instead of timeDelta",
      { seq: [1, 2, 3], timeDelta: undefined, time: [0, 2, 7] },
    ],
    ["a long line column", { seq: [1, 2, 3], line: ["a", "b", "c", "d"] }],
    ["a non-string line", { firstSeq: 1, line: ["a", 2, "c"] }],
    ["empty columns", { seq: [], stream: "", timeDelta: "", line: [] }],
    ["empty columns after firstSeq", { firstSeq: 1, stream: "", timeDelta: "", line: [] }],
  ])("decodeFrame rejects a data frame with %s", (_name, change) => {
    expect(codeOf(() => decodeFrame(bytes({ ...withoutSeq("data"), ...change })))).toBe(
      "BAD_REQUEST",
    );
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

  it("builds data frames that decode back to the same entries, within the envelope bound", () => {
    const streamId = request.streamId as string;
    const entries: LogEntry[] = [
      {
        seq: 1,
        stream: "stdout",
        time: 1_732_790_000_123,
        line: 'quote " and \\ and \n and ünïcödé \u0000',
      },
      { seq: 9, stream: "stderr", time: 1_732_790_000_100, line: "" },
      { seq: 10, stream: "stdout", time: 1_732_790_005_000, line: "later" },
    ];
    const frame = encodeDataFrame(streamId, 7, entries, true);
    const decoded = decodeFrame(frame) as DecodedDataFrame;
    expect(decoded).toMatchObject({ type: "ExecutionLogs.Data/v1", streamId, n: 7, partial: true });
    // Each time from the previous one: +0, -23 and +4900 ms.
    expect(decoded.timeDelta).toBe("AvBoyJ");
    expect(decoded.time).toEqual(entries.map((e) => e.time));
    expect(dataFrameEntries(decoded)).toEqual(entries);
    const columns = entries.reduce(
      (sum, e, i) =>
        sum +
        Buffer.byteLength(JSON.stringify(e.line)) +
        String(e.seq).length +
        timeDeltaChars(e.time - entries[Math.max(0, i - 1)]!.time) +
        3,
      0,
    );
    expect(frame.byteLength).toBeLessThanOrEqual(
      LINE_COLUMN_LAYOUT.envelopeBytes(streamId) + columns,
    );
  });

  it("sends lines as a body after the JSON, and falls back to a JSON column for a line holding a newline", () => {
    const streamId = request.streamId as string;
    const plain: LogEntry[] = [
      { seq: 1, stream: "stdout", time: 10, line: 'tab\tquote" ünï 😀' },
      { seq: 2, stream: "stderr", time: 11, line: "" },
    ];
    const body = encodeDataFrame(streamId, 1, plain);
    const text = Buffer.from(body).toString("utf8");
    expect(text.slice(text.indexOf("}\n") + 2)).toBe('tab\tquote" ünï 😀\n');
    expect(dataFrameEntries(decodeFrame(body) as DecodedDataFrame)).toEqual(plain);
    const multi: LogEntry[] = [{ seq: 3, stream: "stdout", time: 12, line: "two\nlines" }];
    const json = encodeDataFrame(streamId, 2, multi);
    expect(Buffer.from(json).toString("utf8")).not.toContain("\n");
    expect(dataFrameEntries(decodeFrame(json) as DecodedDataFrame)).toEqual(multi);
  });

  it.each([
    ["a body with one line too many", (head: string) => `${head}\na\nb\nc\nd`],
    [
      "a body and a line column",
      (head: string) => `${head.slice(0, -1)},"line":["a","b","c"]}\na\nb\nc`,
    ],
    ["no lines at all", (head: string) => head],
  ])("rejects a data frame with %s", (_name, build) => {
    const { line: _line, ...head } = fixture("data");
    expect(codeOf(() => decodeFrame(new TextEncoder().encode(build(JSON.stringify(head)))))).toBe(
      "BAD_REQUEST",
    );
  });

  it("rejects a body that is not UTF-8", () => {
    const { line: _line, ...head } = fixture("data");
    const bytes = Buffer.concat([
      Buffer.from(`${JSON.stringify(head)}\na\nb\n`),
      Buffer.from([0xff]),
    ]);
    expect(codeOf(() => decodeFrame(bytes))).toBe("BAD_REQUEST");
  });

  it("still reads pretty-printed JSON frames", () => {
    const pretty = new TextEncoder().encode(JSON.stringify(fixture("end"), null, 2));
    expect(decodeFrame(pretty).type).toBe("ExecutionLogs.End/v1");
  });

  it("rejects a time delta that puts an entry before the epoch", () => {
    // 0, then -6 ms from a time base of 5.
    const data = { ...fixture("data"), timeBase: 5, timeDelta: "ANA" };
    expect(decodeTimeDeltas("ANA", 5, 3)).toMatch(/time 1 is out of range/);
    expect(codeOf(() => decodeFrame(bytes(data)))).toBe("BAD_REQUEST");
  });

  it("decodes a removal notice and rejects one whose range runs backwards or starts at 0", () => {
    const notice = fixture("notice-removed");
    expect(decodeFrame(bytes(notice))).toEqual(notice);
    expect(
      codeOf(() => decodeFrame(bytes({ ...notice, toSeq: (notice.fromSeq as number) - 1 }))),
    ).toBe("BAD_REQUEST");
    expect(codeOf(() => decodeFrame(bytes({ ...notice, fromSeq: 0 })))).toBe("BAD_REQUEST");
    expect(codeOf(() => decodeFrame(bytes({ ...notice, notice: "other" })))).toBe("BAD_REQUEST");
    // Requests and Accepted frames of older peers (no notices) and newer ones (unknown kinds) decode.
    const request = fixture("request-resume-notices");
    expect(
      decodeRequest(bytes({ ...request, notices: ["removed", "future_kind"] })).notices,
    ).toEqual(["removed", "future_kind"]);
    expect(codeOf(() => decodeRequest(bytes({ ...request, notices: ["Bad Kind"] })))).toBe(
      "BAD_REQUEST",
    );
  });
});
