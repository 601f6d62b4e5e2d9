// The conformance transcripts (conformance/v1/*.json) are built from our encoders; this test
// keeps the committed files identical to what the codec writes (UPDATE_TRANSCRIPTS=1 rewrites
// them after a deliberate wire change) and checks each exchange against the protocol's rules.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  decodeControl,
  decodeFrame,
  decodeHeartbeat,
  decodeHeartbeatResponse,
  decodeRequest,
} from "./codec.js";
import { type AcceptedFrame, type LogRequest, MessageType, type StreamFrame } from "./schemas.js";
import { concreteSubject, type Step, SUBJECT } from "./test-helpers/transcript-builder.js";
import { transcripts } from "./test-helpers/transcripts.js";

const dir = new URL("../../conformance/v1/", import.meta.url);
const built = transcripts();
const serialise = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

if (process.env.UPDATE_TRANSCRIPTS === "1") {
  for (const t of built) writeFileSync(new URL(`${t.name}.json`, dir), serialise(t));
}

const bytesOf = (step: Step) => new TextEncoder().encode(step.payload ?? "");

/** The decoder for what arrives on a step's subject. */
function decoderOf(step: Step): ((bytes: Uint8Array) => unknown) | undefined {
  if (step.subject === SUBJECT.request) return decodeRequest;
  if (step.subject === SUBJECT.control) return decodeControl;
  if (step.subject === SUBJECT.heartbeat) return decodeHeartbeat;
  if (step.subject === "{inbox}") return decodeHeartbeatResponse;
  if (/^_TW\.[^.]+\.s\.[^.]+$/.test(step.subject)) return decodeFrame;
  return undefined;
}

describe("conformance transcripts", () => {
  it("the committed files are exactly what our encoders build", () => {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .sort();
    expect(files).toEqual(built.map((t) => `${t.name}.json`).sort());
    for (const t of built) {
      expect(readFileSync(new URL(`${t.name}.json`, dir), "utf8"), t.name).toBe(serialise(t));
    }
  });

  it("covers the exchanges the kit promises", () => {
    expect(built.map((t) => t.name).sort()).toEqual(
      ["credit", "gap", "heartbeat", "rejections", "split-line", "whole-read"].sort(),
    );
    const rejections = built.find((t) => t.name === "rejections")!;
    const codes = rejections.exchanges.flatMap((e) =>
      e.steps
        .filter((s) => s.payload?.includes(MessageType.Error))
        .map((s) => JSON.parse(s.payload!).code),
    );
    // Every code a compute node answers a request with (PAYLOAD_TOO_LARGE is counted, never
    // answered: a request over the bound is not read, not even for its inbox).
    expect(new Set(codes)).toEqual(
      new Set([
        "EXECUTION_NOT_FOUND",
        "BAD_REQUEST",
        "UNSUPPORTED_VERSION",
        "TAIL_TOO_LARGE",
        "DUPLICATE_STREAM",
        "TOO_MANY_STREAMS",
        "TOO_MANY_REQUESTER_STREAMS",
        "RATE_LIMITED",
        "GOING_AWAY",
      ]),
    );
    expect(
      rejections.exchanges.filter((e) => e.steps.some((s) => s.expect === "nothing")).length,
    ).toBeGreaterThanOrEqual(5);
  });

  for (const t of built) {
    it(`${t.name}: every step decodes on its subject and keeps the rules`, () => {
      for (const exchange of t.exchanges) {
        let accepted: AcceptedFrame | undefined;
        let request: LogRequest | undefined;
        let lastN = -1;
        for (const step of exchange.steps) {
          const where = `${t.name} / ${exchange.title} / ${step.note ?? step.subject}`;
          expect(step.section, where).toBeTruthy();
          if (step.expect === "nothing") {
            expect(step.payload, where).toBeUndefined();
            continue;
          }
          expect(step.bytes, where).toBe(bytesOf(step).byteLength);
          expect(concreteSubject(step.subject), where).not.toMatch(/[{}]/);
          const decode = decoderOf(step);
          expect(decode, where).toBeDefined();
          if (t.name === "rejections" && step.subject === SUBJECT.request) continue; // checked below
          const value = decode!(bytesOf(step));
          if (step.subject === SUBJECT.request) request = value as LogRequest;
          if (decode !== decodeFrame) continue;
          const frame = value as StreamFrame;
          if (frame.streamId !== request?.streamId) continue;
          if (frame.type === MessageType.Accepted) {
            accepted = frame;
            expect(frame.maxFrameBytes, where).toBeLessThanOrEqual(Math.floor(request.window / 2));
          }
          if ("n" in frame && frame.n !== undefined && t.name !== "gap") {
            expect(frame.n, where).toBe(lastN + 1);
            lastN = frame.n;
          }
          if (frame.type === MessageType.Data) {
            expect(step.bytes, where).toBeLessThanOrEqual(accepted!.maxFrameBytes);
            if (step.credit)
              expect(step.credit.sent, where).toBeLessThanOrEqual(
                step.credit.window + step.credit.granted,
              );
            // The line form exactly when a line holds a newline.
            expect(step.payload!.includes("\n"), where).toBe(
              !frame.line.some((l) => l.includes("\n")),
            );
          }
        }
      }
    });
  }

  it("rejections: what the decoder rejects carries the code the Error frame answers with", () => {
    const rejections = built.find((t) => t.name === "rejections")!;
    for (const exchange of rejections.exchanges) {
      const [req, answer] = exchange.steps as [Step, Step];
      if (answer.expect === "nothing") continue;
      const code = JSON.parse(answer.payload!).code as string;
      let thrown: string | undefined;
      try {
        decodeRequest(bytesOf(req));
      } catch (error) {
        thrown = (error as { code: string }).code;
      }
      const byDecoder = ["BAD_REQUEST", "UNSUPPORTED_VERSION", "PAYLOAD_TOO_LARGE"];
      const semantic =
        exchange.title.includes("heartbeatSubject") || exchange.title.includes("targetPeerId");
      expect(thrown, exchange.title).toBe(byDecoder.includes(code) && !semantic ? code : undefined);
    }
  });

  it("split-line: the parts join back into the whole line, cut between code points", () => {
    const split = built.find((t) => t.name === "split-line")!;
    const frames = split.exchanges[0]!.steps.filter((s) =>
      s.payload?.startsWith(`{"type":"${MessageType.Data}"`),
    ).map((s) => decodeFrame(bytesOf(s)));
    const parts = frames.map((f) => (f.type === MessageType.Data ? f : undefined)!);
    expect(parts.map((p) => p.partial === true)).toEqual([true, true, true, true, false]);
    const joined =
      parts[0]!.line[1]! +
      parts
        .slice(1)
        .map((p) => p.line[0]!)
        .join("");
    expect(joined).toBe("ü€😀a".repeat(150));
    expect(Buffer.byteLength(joined)).toBe(1500);
  });
});
