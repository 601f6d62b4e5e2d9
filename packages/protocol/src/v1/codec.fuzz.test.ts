import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TailwireError } from "../errors.js";
import {
  decodeControl,
  decodeFrame,
  decodeHeartbeat,
  decodeHeartbeatResponse,
  decodeMessage,
  decodeRequest,
  encode,
} from "./codec.js";
import { MessageType } from "./schemas.js";

const decoders = {
  decodeRequest,
  decodeControl,
  decodeFrame,
  decodeHeartbeat,
  decodeHeartbeatResponse,
  decodeMessage,
};

// A decoder may return a value or throw a TailwireError; anything else is a bug.
function onlyTypedErrors(decode: (b: Uint8Array) => unknown, input: Uint8Array): void {
  try {
    decode(input);
  } catch (error) {
    expect(error).toBeInstanceOf(TailwireError);
  }
}

const sid = "b3JhbmdlLXN0cmVhbS1pZA";
const valid = {
  [MessageType.Request]: {
    type: MessageType.Request,
    sourcePeerId: "r",
    targetPeerId: "c",
    executionId: "e",
    streamId: sid,
    follow: true,
    heartbeatSubject: "_TW.r.hb",
    heartbeatIntervalMs: 100,
    window: 65536,
  },
  [MessageType.Data]: {
    type: MessageType.Data,
    streamId: sid,
    n: 1,
    entries: [{ seq: 1, stream: "stdout", time: 0, line: "x" }],
  },
  [MessageType.Control]: { type: MessageType.Control, sourcePeerId: "r", cancel: [sid] },
  [MessageType.Heartbeat]: { type: MessageType.Heartbeat, computeNodeId: "c", streamIds: [sid] },
} as const;

// Near-valid: a valid message with one field replaced by an arbitrary JSON value (or removed).
const nearValid = fc
  .record({
    base: fc.constantFrom(...Object.values(valid)),
    key: fc.constantFrom(
      "type",
      "streamId",
      "n",
      "entries",
      "tail",
      "follow",
      "window",
      "cancel",
      "streamIds",
      "sourcePeerId",
      "extra",
    ),
    value: fc.oneof(fc.jsonValue(), fc.constant(undefined)),
  })
  .map(({ base, key, value }) =>
    new TextEncoder().encode(JSON.stringify({ ...base, [key]: value })),
  );

describe("decoders under fuzzing", () => {
  for (const [name, decode] of Object.entries(decoders)) {
    it(`${name} throws only TailwireError on arbitrary bytes`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 512 }), (input) => onlyTypedErrors(decode, input)),
        { numRuns: 500 },
      );
    });

    it(`${name} throws only TailwireError on arbitrary JSON`, () => {
      fc.assert(
        fc.property(fc.jsonValue(), (value) =>
          onlyTypedErrors(decode, new TextEncoder().encode(JSON.stringify(value) ?? "null")),
        ),
        { numRuns: 500 },
      );
    });

    it(`${name} throws only TailwireError on near-valid messages`, () => {
      fc.assert(
        fc.property(nearValid, (input) => onlyTypedErrors(decode, input)),
        { numRuns: 500 },
      );
    });
  }

  it("whatever decodeMessage accepts re-encodes to an equal message", () => {
    fc.assert(
      fc.property(nearValid, (input) => {
        let decoded: ReturnType<typeof decodeMessage>;
        try {
          decoded = decodeMessage(input);
        } catch {
          return;
        }
        expect(decodeMessage(encode(decoded))).toEqual(decoded);
      }),
      { numRuns: 500 },
    );
  });
});
