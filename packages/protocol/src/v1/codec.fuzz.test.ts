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
import { type DecodedDataFrame, MessageType } from "./schemas.js";
import { decodeTimeDeltas, encodeTimeDeltas } from "./time-deltas.js";

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
    firstSeq: 1,
    stream: "oe",
    timeBase: 1_732_790_000_000,
    timeDelta: "AC",
    line: ["x", "y"],
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
      "firstSeq",
      "seq",
      "stream",
      "timeBase",
      "timeDelta",
      "line",
      "partial",
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

  it("decodeFrame turns any timeDelta into one in-range time per entry, or a typed error", () => {
    const base64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    // Well-formed VLQ values (up to 10 continuation digits, then a last one), so that many cases
    // decode; and arbitrary strings, so that many do not.
    const value = fc
      .tuple(
        fc.array(fc.integer({ min: 32, max: 63 }), { maxLength: 10 }),
        fc.integer({ min: 0, max: 31 }),
      )
      .map(([more, last]) => [...more, last].map((digit) => base64[digit]).join(""));
    const deltas = fc.oneof(
      fc
        .tuple(fc.array(value, { minLength: 1, maxLength: 8 }), fc.constantFrom(0, 0, 0, 1, -1))
        .map(([values, off]) => ({
          text: values.join(""),
          count: Math.max(1, values.length + off),
        })),
      fc.record({
        text: fc.string({ minLength: 1, maxLength: 20 }),
        count: fc.integer({ min: 1, max: 8 }),
      }),
    );
    const timeBase = fc.oneof(
      fc.integer({ min: 0, max: 2_000_000_000_000 }),
      fc.constant(Number.MAX_SAFE_INTEGER),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    );
    fc.assert(
      fc.property(deltas, timeBase, ({ text: delta, count }, base) => {
        const frame = {
          type: MessageType.Data,
          streamId: sid,
          n: 1,
          firstSeq: 1,
          stream: "o".repeat(count),
          timeBase: base,
          timeDelta: delta,
          line: Array.from({ length: count }, (_, i) => `line ${i}`),
        };
        let decoded: DecodedDataFrame;
        try {
          decoded = decodeFrame(
            new TextEncoder().encode(JSON.stringify(frame)),
          ) as DecodedDataFrame;
        } catch (error) {
          expect(error).toBeInstanceOf(TailwireError);
          return;
        }
        expect(decoded.time).toHaveLength(count);
        for (const time of decoded.time) {
          expect(Number.isSafeInteger(time) && time >= 0).toBe(true);
        }
        // Written back (in the shortest form: a reader also takes "gA" for 0), they read the same.
        const written = encodeTimeDeltas(decoded.time, base);
        expect(written.length).toBeLessThanOrEqual(delta.length);
        expect(decodeTimeDeltas(written, base, count)).toEqual(decoded.time);
      }),
      { numRuns: 1000 },
    );
  });

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
