// Property: a requester that grants credit exactly as PROTOCOL.md's "Flow control" allows (no
// earlier, no more) never leaves a stream waiting forever, for any window, line length and
// grant threshold. Drives the real ServedStream, FrameBatcher and CreditGate.
import {
  dataFrameEntries,
  decodeFrame,
  LIMITS,
  type LogEntry,
  type LogRequest,
  MessageType,
} from "@tailwire/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { LogReader } from "../log-source.js";
import { maxFrameBytesFor } from "./frame-limit.js";
import { ServedStream, type StreamHost } from "./served-stream.js";

const STREAM_ID = "S".repeat(64);
const DEFAULT_MAX_FRAME = 64 * 1024;
const MAX_PAYLOAD = 1024 * 1024;

interface Case {
  window: number;
  /** The requester grants once released-but-ungranted bytes reach this (at most half the window). */
  threshold: number;
  /** The lines as the log source hands them out: each batch is sealed into frames of its own. */
  batches: string[][];
}

/** A log source's read that yields the given batches (as a follow sees lines arrive). */
class BatchReader implements LogReader {
  readonly afterSeq = 0;
  readonly lastSeqAtOpen = 0;
  readonly exitCode = 0;
  #position = 0;

  constructor(readonly batches: string[][]) {}

  get position(): number {
    return this.#position;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<LogEntry[]> {
    for (const batch of this.batches) {
      const entries = batch.map((line) => ({
        seq: ++this.#position,
        stream: "stdout" as const,
        time: 1_700_000_000_000 + this.#position,
        line,
      }));
      yield entries;
    }
  }

  async close(): Promise<void> {}
}

/**
 * The spec's requester, to the letter: a frame's bytes are released when every complete entry
 * it carries was handed over (at once here: the consumer is instant), or at receipt when it
 * carries only part of a long line; released bytes are granted once they reach the threshold.
 */
class SpecRequester {
  readonly delivered: LogEntry[] = [];
  received = 0;
  granted = 0;
  #ungranted = 0;
  #carry: LogEntry | undefined;
  maxFrameSeen = 0;

  constructor(
    readonly window: number,
    readonly threshold: number,
    readonly grant: (bytes: number) => void,
  ) {}

  receive(data: Uint8Array, maxFrameBytes: number): void {
    const frame = decodeFrame(data);
    if (frame.type !== MessageType.Data) throw new Error(`unexpected ${frame.type}`);
    this.maxFrameSeen = Math.max(this.maxFrameSeen, data.byteLength);
    expect(data.byteLength).toBeLessThanOrEqual(maxFrameBytes);
    this.received += data.byteLength;
    expect(this.received).toBeLessThanOrEqual(this.window + this.granted);
    const entries = dataFrameEntries(frame);
    entries.forEach((entry, i) => {
      let current = entry;
      if (i === 0 && this.#carry) {
        current = { ...entry, line: this.#carry.line + entry.line };
        this.#carry = undefined;
      }
      if (frame.partial === true && i === entries.length - 1) this.#carry = current;
      else this.delivered.push(current);
    });
    // Released at once either way: its complete entries were consumed, or it holds none.
    this.#ungranted += data.byteLength;
    if (this.#ungranted >= this.threshold) {
      const bytes = this.#ungranted;
      this.#ungranted = 0;
      this.granted += bytes;
      this.grant(bytes);
    }
  }
}

async function run(c: Case): Promise<{ completed: boolean; requester: SpecRequester }> {
  const executionId = "exec-1";
  const request: LogRequest = {
    type: MessageType.Request,
    sourcePeerId: "requester-1",
    targetPeerId: "compute-1",
    executionId,
    streamId: STREAM_ID,
    follow: false,
    heartbeatSubject: "_TW.requester-1.hb",
    heartbeatIntervalMs: 5000,
    window: c.window,
  };
  const stream = new ServedStream(request, `_TW.requester-1.s.${STREAM_ID}`);
  const requester = new SpecRequester(c.window, c.threshold, (bytes) =>
    // Control messages travel asynchronously: grant on a later turn, as the wire would.
    setImmediate(() => stream.credit.grant(bytes)),
  );
  let completed = false;
  const host: StreamHost = {
    publish: (_subject, data) => requester.receive(data, stream.maxFrameBytes),
    finished: () => {
      completed = true;
    },
    failed: (_s, error) => {
      throw error;
    },
  };
  // The Accepted frame (frame 0) goes nowhere: this requester needs only the data frames.
  stream.accept(
    new BatchReader(c.batches),
    maxFrameBytesFor(c.window, DEFAULT_MAX_FRAME, MAX_PAYLOAD),
    "compute-1",
    { ...host, publish: () => {} },
  );
  const pump = stream.pump(host, 0);
  // A stall is a pump waiting for credit that will never come: bounded wait, then give up.
  const deadline = new Promise<void>((resolve) => setTimeout(resolve, 2_000));
  await Promise.race([pump, deadline]);
  stream.controller.abort();
  await pump;
  return { completed, requester };
}

const lineArb = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength: 500, maxLength: 5_000 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 1_000, max: 150_000 }), fc.constantFrom("x", "é", "€", "😀"))
      .map(([n, ch]) => ch.repeat(Math.ceil(n / ch.length))),
  },
);

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    window: fc.oneof(
      fc.integer({ min: LIMITS.minWindowBytes, max: 8 * 1024 }),
      fc.integer({ min: 8 * 1024, max: 256 * 1024 }),
    ),
    thresholdShare: fc.double({ min: 0, max: 1, noNaN: true }),
    batches: fc.array(
      fc.array(
        lineArb.map((l) => l.replaceAll("\n", " ")),
        { minLength: 1, maxLength: 40 },
      ),
      { minLength: 1, maxLength: 8 },
    ),
  })
  .map(({ window, thresholdShare, batches }) => ({
    window,
    // Any threshold the spec allows: from 1 byte to half the window.
    threshold: Math.max(1, Math.round(thresholdShare * Math.floor(window / 2))),
    batches,
  }));

describe("flow control cannot deadlock a requester that follows the spec", () => {
  it("the issue's case: window 32 KiB, a 100 KB line, grants at each half window", async () => {
    const { completed, requester } = await run({
      window: 32 * 1024,
      threshold: 16 * 1024,
      // 14,000 bytes of short lines arrive first (under the grant threshold), then the long line.
      batches: [Array.from({ length: 100 }, () => "s".repeat(138)), ["x".repeat(100_000), "last"]],
    });
    expect(completed).toBe(true);
    expect(requester.delivered.map((e) => e.line.length)).toEqual([
      ...Array.from({ length: 100 }, () => 138),
      100_000,
      4,
    ]);
    expect(requester.maxFrameSeen).toBeLessThanOrEqual(16 * 1024);
  });

  it("every window, line length and allowed grant threshold completes with every line once", async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const { completed, requester } = await run(c);
        expect(completed).toBe(true);
        const lines = c.batches.flat();
        expect(requester.delivered.map((e) => e.line)).toEqual(lines);
        expect(requester.delivered.map((e) => e.seq)).toEqual(lines.map((_, i) => i + 1));
      }),
      { numRuns: 150, seed: 4003, endOnFailure: true },
    );
  }, 120_000);
});
