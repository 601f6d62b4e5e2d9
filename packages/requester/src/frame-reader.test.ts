import {
  ExecutionNotFoundError,
  InternalError,
  newStreamId,
  ProtocolError,
  SequenceGapError,
  type StreamFrame,
} from "@tailwire/protocol";
import { describe, expect, it } from "vitest";
import { FrameReader } from "./frame-reader.js";

const node = "compute-1";

interface Entry {
  seq: number;
  line: string;
  stream: "stdout" | "stderr";
}

function setup(afterSeq = 0) {
  const streamId = newStreamId();
  const reader = new FrameReader(streamId, node);
  const accepted = {
    type: "ExecutionLogs.Accepted/v1",
    streamId,
    n: 0,
    computeNodeId: node,
    afterSeq,
    lastSeq: 10,
    maxFrameBytes: 1000,
  } as StreamFrame;
  const data = (n: number, entries: Entry[], partial = false) =>
    ({
      type: "ExecutionLogs.Data/v1",
      streamId,
      n,
      seq: entries.map((x) => x.seq),
      stream: entries.map((x) => (x.stream === "stderr" ? "e" : "o")).join(""),
      timeBase: 5,
      timeDelta: "A".repeat(entries.length),
      time: entries.map(() => 5),
      line: entries.map((x) => x.line),
      ...(partial ? { partial } : {}),
    }) as StreamFrame;
  const end = (n: number, lastSeq: number) =>
    ({ type: "ExecutionLogs.End/v1", streamId, n, lastSeq }) as StreamFrame;
  const e = (seq: number, line: string, stream: "stdout" | "stderr" = "stdout"): Entry => ({
    seq,
    line,
    stream,
  });
  return { streamId, reader, accepted, data, end, e };
}

describe("FrameReader", () => {
  it("reads a removal notice in order and keeps later data above its range", () => {
    const { reader, accepted, data, e, streamId } = setup(3);
    const notice = (n: number, fromSeq: number, toSeq: number, sid = streamId) =>
      ({
        type: "ExecutionLogs.Notice/v1",
        streamId: sid,
        n,
        notice: "removed",
        reason: "retention",
        fromSeq,
        toSeq,
      }) as StreamFrame;
    reader.read(accepted);
    expect(reader.read(notice(1, 4, 20))).toEqual({
      kind: "notice",
      notice: { kind: "removed", reason: "retention", fromSeq: 4, toSeq: 20 },
    });
    // Data inside the removed range is a protocol error: those lines were said to be gone.
    const again = setup(3);
    again.reader.read(again.accepted);
    again.reader.read(notice(1, 4, 20, again.streamId));
    expect(() => again.reader.read(again.data(2, [again.e(15, "x")]))).toThrow(ProtocolError);
    expect(reader.read(data(2, [e(21, "a")])).kind).toBe("data");
    // A notice for lines already delivered, or out of frame order, is rejected.
    expect(() => reader.read(notice(3, 21, 30))).toThrow(ProtocolError);
    const third = setup(0);
    third.reader.read(third.accepted);
    expect(() => third.reader.read(notice(2, 1, 5, third.streamId))).toThrow(SequenceGapError);
  });

  it("reads accepted, data and end in order", () => {
    const { reader, accepted, data, end, e } = setup();
    expect(reader.read(accepted).kind).toBe("accepted");
    expect(reader.read(data(1, [e(1, "a"), e(2, "b")]))).toEqual({
      kind: "data",
      entries: [
        { seq: 1, stream: "stdout", time: 5, line: "a" },
        { seq: 2, stream: "stdout", time: 5, line: "b" },
      ],
    });
    expect(reader.read(data(2, [e(5, "c")])).kind).toBe("data");
    expect(reader.read(end(3, 5)).kind).toBe("end");
  });

  it("reads frames that carry firstSeq instead of the seq column, also across a split line", () => {
    const { reader, accepted, data, e } = setup();
    // The form a compute node sends for consecutive seqs: the first one only.
    const short = (frame: StreamFrame, firstSeq: number) => {
      const { seq: _seq, ...rest } = frame as StreamFrame & { seq: number[] };
      return { ...rest, firstSeq } as StreamFrame;
    };
    reader.read(accepted);
    const first = reader.read(short(data(1, [e(1, "a"), e(2, "b"), e(3, "long ")], true), 1));
    expect(first.kind === "data" && first.entries.map((x) => [x.seq, x.line])).toEqual([
      [1, "a"],
      [2, "b"],
    ]);
    const second = reader.read(short(data(2, [e(3, "line"), e(4, "c")]), 3));
    expect(second.kind === "data" && second.entries.map((x) => [x.seq, x.line])).toEqual([
      [3, "long line"],
      [4, "c"],
    ]);
    // A gap brings the column back; going back is refused in either form.
    const third = reader.read(data(3, [e(6, "d"), e(9, "e")]));
    expect(third.kind === "data" && third.entries.map((x) => x.seq)).toEqual([6, 9]);
    expect(() => reader.read(short(data(4, [e(9, "f")]), 9))).toThrow(ProtocolError);
  });

  it("maps the stream column", () => {
    const { reader, accepted, data, e } = setup();
    reader.read(accepted);
    const outcome = reader.read(data(1, [e(1, "a", "stderr"), e(2, "b")]));
    expect(outcome.kind === "data" && outcome.entries.map((x) => x.stream)).toEqual([
      "stderr",
      "stdout",
    ]);
  });

  it("joins lines split over frames", () => {
    const { reader, accepted, data, e } = setup();
    reader.read(accepted);
    expect(reader.read(data(1, [e(1, "whole"), e(2, "ab")], true))).toEqual({
      kind: "data",
      entries: [{ seq: 1, stream: "stdout", time: 5, line: "whole" }],
    });
    expect(reader.read(data(2, [e(2, "cd")], true))).toEqual({ kind: "data", entries: [] });
    expect(reader.read(data(3, [e(2, "ef"), e(3, "x"), e(4, "y1")], true))).toEqual({
      kind: "data",
      entries: [
        { seq: 2, stream: "stdout", time: 5, line: "abcdef" },
        { seq: 3, stream: "stdout", time: 5, line: "x" },
      ],
    });
    expect(reader.read(data(4, [e(4, "y2")]))).toEqual({
      kind: "data",
      entries: [{ seq: 4, stream: "stdout", time: 5, line: "y1y2" }],
    });
  });

  it("reports a missing frame number as a sequence gap", () => {
    const { reader, accepted, data, e } = setup();
    reader.read(accepted);
    expect(() => reader.read(data(2, [e(1, "a")]))).toThrow(SequenceGapError);
  });

  it("reports a repeated frame number as a sequence gap", () => {
    const { reader, accepted, data, e } = setup();
    reader.read(accepted);
    reader.read(data(1, [e(1, "a")]));
    expect(() => reader.read(data(1, [e(2, "b")]))).toThrow(SequenceGapError);
  });

  it("reports data before acceptance as a gap", () => {
    const { reader, data, e } = setup();
    expect(() => reader.read(data(1, [e(1, "a")]))).toThrow(SequenceGapError);
  });

  it("rejects seq going back, or not past afterSeq", () => {
    const a = setup();
    a.reader.read(a.accepted);
    a.reader.read(a.data(1, [a.e(3, "a")]));
    expect(() => a.reader.read(a.data(2, [a.e(2, "b")]))).toThrow(ProtocolError);
    const b = setup(7);
    b.reader.read(b.accepted);
    expect(() => b.reader.read(b.data(1, [b.e(7, "a")]))).toThrow(ProtocolError);
  });

  it("rejects a partial line continued by another seq, or ended by End", () => {
    const a = setup();
    a.reader.read(a.accepted);
    a.reader.read(a.data(1, [a.e(1, "a")], true));
    expect(() => a.reader.read(a.data(2, [a.e(2, "b")]))).toThrow(/partial line 1/);
    const b = setup();
    b.reader.read(b.accepted);
    b.reader.read(b.data(1, [b.e(1, "a")], true));
    expect(() => b.reader.read(b.end(2, 1))).toThrow(ProtocolError);
  });

  it("rejects an End whose lastSeq is below what was sent", () => {
    const { reader, accepted, data, end, e } = setup();
    reader.read(accepted);
    reader.read(data(1, [e(4, "a")]));
    expect(() => reader.read(end(2, 3))).toThrow(ProtocolError);
  });

  it("rejects frames of another stream and acceptance by another node", () => {
    const { reader, accepted } = setup();
    expect(() => reader.read({ ...accepted, streamId: newStreamId() } as StreamFrame)).toThrow(
      ProtocolError,
    );
    expect(() => reader.read({ ...accepted, computeNodeId: "other" } as StreamFrame)).toThrow(
      /accepted by other/,
    );
  });

  it("maps error frames to typed errors, unknown codes to INTERNAL", () => {
    const { streamId, reader } = setup();
    const known = reader.read({
      type: "ExecutionLogs.Error/v1",
      streamId,
      code: "EXECUTION_NOT_FOUND",
      message: "no such execution",
      retryable: false,
    });
    expect(known.kind === "error" && known.error).toBeInstanceOf(ExecutionNotFoundError);
    const unknown = setup();
    const outcome = unknown.reader.read({
      type: "ExecutionLogs.Error/v1",
      streamId: unknown.streamId,
      code: "FROM_THE_FUTURE",
      message: "new",
      retryable: true,
    });
    expect(outcome.kind === "error" && outcome.error).toBeInstanceOf(InternalError);
    expect(outcome.kind === "error" && outcome.error.message).toBe("FROM_THE_FUTURE: new");
    expect(outcome.kind === "error" && outcome.error.retryable).toBe(true);
  });

  it("checks the number of a numbered error frame", () => {
    const { streamId, reader, accepted } = setup();
    reader.read(accepted);
    expect(() =>
      reader.read({
        type: "ExecutionLogs.Error/v1",
        streamId,
        n: 3,
        code: "INTERNAL",
        message: "x",
        retryable: true,
      }),
    ).toThrow(SequenceGapError);
  });
});
