import { describe, expect, it } from "vitest";
import { BadRequestError, PayloadTooLargeError, UnsupportedVersionError } from "../errors.js";
import { decodeRequest, encode } from "../v1/codec.js";
import { MessageType } from "../v1/schemas.js";
import {
  decodeControlV2,
  decodeFrameV2,
  decodeLocateV2,
  decodeRequestV2,
  encodeDataFrameV2,
  encodeV2,
} from "./codec.js";
import { MessageTypeV2 } from "./schemas.js";

const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const streamId = "Zm9sbG93LXN0cmVhbS1pZDI";
const request = {
  type: MessageTypeV2.Request,
  executionId: "e-1",
  streamId,
  follow: true,
  heartbeatIntervalMs: 200,
  window: 65536,
};

describe("v2 codec", () => {
  it("reads a request without any identity, and ignores unknown optional fields", () => {
    expect(decodeRequestV2(bytes({ ...request, compression: ["zstd"] }))).toMatchObject(request);
  });

  it("tells a v1 message on a v2 subject (and the reverse) apart from a bad one", () => {
    const v1 = {
      ...request,
      type: MessageType.Request,
      sourcePeerId: "r1",
      targetPeerId: "c1",
      heartbeatSubject: "_TW.r1.hb",
    };
    expect(() => decodeRequestV2(encode(v1 as never))).toThrow(UnsupportedVersionError);
    expect(() => decodeRequest(bytes(request))).toThrow(UnsupportedVersionError);
    // A v2 kind on the wrong v2 subject is a bad request, not another version.
    expect(() => decodeRequestV2(bytes({ type: MessageTypeV2.Control }))).toThrow(BadRequestError);
  });

  it("refuses what the schema refuses, with the path", () => {
    expect(() => decodeRequestV2(bytes({ ...request, window: 1 }))).toThrow(/\/window/);
    expect(() => decodeRequestV2(bytes({ ...request, streamId: "short" }))).toThrow(/\/streamId/);
    expect(() => decodeControlV2(bytes({ type: MessageTypeV2.Control, cancel: ["x"] }))).toThrow(
      BadRequestError,
    );
    expect(() => decodeRequestV2(new Uint8Array(16 * 1024 + 1))).toThrow(PayloadTooLargeError);
  });

  it("requires firstSeq in Accepted: removal notices are always on", () => {
    const accepted = {
      type: MessageTypeV2.Accepted,
      streamId,
      n: 0,
      afterSeq: 0,
      lastSeq: 3,
      maxFrameBytes: 32768,
    };
    expect(() => decodeFrameV2(bytes(accepted))).toThrow(/firstSeq/);
    expect(decodeFrameV2(bytes({ ...accepted, firstSeq: 1 }))).toMatchObject({ firstSeq: 1 });
  });

  it("needs exactly one of executionId and jobId in a lookup", () => {
    const lookupId = "bG9va3VwLWpvYi1pZC0wMDAwMA";
    const locate = { type: MessageTypeV2.Locate, lookupId };
    expect(() => decodeLocateV2(bytes(locate))).toThrow(/exactly one/);
    expect(() => decodeLocateV2(bytes({ ...locate, executionId: "e", jobId: "j" }))).toThrow(
      /exactly one/,
    );
    expect(decodeLocateV2(bytes({ ...locate, jobId: "j" }))).toMatchObject({ jobId: "j" });
  });

  it("writes data frames with v1's columns under the v2 type, both forms round-trip", () => {
    const entries = [
      { seq: 5, stream: "stdout" as const, time: 1_700_000_000_000, line: "plain" },
      { seq: 7, stream: "stderr" as const, time: 1_700_000_000_002, line: "two\nlines" },
    ];
    for (const batch of [entries.slice(0, 1), entries]) {
      const frame = decodeFrameV2(encodeDataFrameV2(streamId, 1, batch));
      expect(frame).toMatchObject({ type: MessageTypeV2.Data, n: 1 });
      expect(frame.type === MessageTypeV2.Data && frame.line).toEqual(batch.map((e) => e.line));
    }
    // The encoder validates: an invalid message never reaches the wire.
    expect(() => encodeV2({ ...request, window: 0 } as never)).toThrow(BadRequestError);
  });
});
