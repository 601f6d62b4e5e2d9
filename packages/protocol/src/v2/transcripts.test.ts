// The v2 conformance transcripts (conformance/v2/*.json) are built from v1's by rule (see
// test-helpers/transcripts.ts); this test keeps the committed files identical to the build
// (UPDATE_TRANSCRIPTS=1 rewrites them) and checks every step against v2's subjects and codec.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { transcripts } from "../v1/test-helpers/transcripts.js";
import {
  decodeControlV2,
  decodeFrameV2,
  decodeHeartbeatResponseV2,
  decodeHeartbeatV2,
  decodeRequestV2,
} from "./codec.js";
import { transcriptsV2 } from "./test-helpers/transcripts.js";

const dir = new URL("../../conformance/v2/", import.meta.url);
const built = transcriptsV2();
const serialise = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

if (process.env.UPDATE_TRANSCRIPTS === "1") {
  for (const t of built) writeFileSync(new URL(`${t.name}.json`, dir), serialise(t));
}

const steps = built.flatMap((t) => t.exchanges.flatMap((e) => e.steps));

/** The v2 decoder for what arrives on a step's subject. */
function decoderOf(subject: string): ((bytes: Uint8Array) => unknown) | undefined {
  if (/^node\.compute\.\{computeNodeId\}\.ExecutionLogs\/v2\.[^.]+$/.test(subject))
    return decodeRequestV2;
  if (/^node\.compute\.\{computeNodeId\}\.ExecutionLogsControl\/v2\.[^.]+$/.test(subject))
    return decodeControlV2;
  if (/^_TW\.[^.]+\.v2\.\{computeNodeId\}\.hb$/.test(subject)) return decodeHeartbeatV2;
  if (subject === "{inbox}") return decodeHeartbeatResponseV2;
  if (/^_TW\.[^.]+\.v2\.\{computeNodeId\}\.s\.[^.]+$/.test(subject)) return decodeFrameV2;
  return undefined;
}

describe("v2 conformance transcripts", () => {
  it("the committed files are exactly what the build gives", () => {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .sort();
    expect(files).toEqual(built.map((t) => `${t.name}.json`).sort());
    for (const t of built) {
      expect(readFileSync(new URL(`${t.name}.json`, dir), "utf8"), t.name).toBe(serialise(t));
    }
  });

  it("every step is on a v2 subject, and no payload of v2 carries an identity", () => {
    for (const step of steps) {
      const decode = decoderOf(step.subject);
      expect(decode, step.subject).toBeDefined();
      if (step.payload === undefined) continue;
      for (const field of ["sourcePeerId", "targetPeerId", "computeNodeId", "heartbeatSubject"]) {
        if (step.payload.includes("ExecutionLogs.Request/v1")) continue; // the v1 request sent to v2
        expect(step.payload, field).not.toContain(`"${field}"`);
      }
    }
  });

  it("every well-formed payload decodes with its subject's v2 decoder; the rest is rejected", () => {
    let decoded = 0;
    for (const step of steps) {
      if (step.payload === undefined) continue;
      const bytes = new TextEncoder().encode(step.payload);
      expect(bytes.byteLength).toBe(step.bytes);
      try {
        decoderOf(step.subject)!(bytes);
        decoded++;
      } catch (error) {
        // Only the hostile requests of the rejections transcript fail: garbage, an array, a v1
        // request, an oversized one, a schema violation.
        expect(step.from, step.payload.slice(0, 80)).toBe("requester→compute");
        expect(String(error)).toMatch(
          /not valid JSON|not a JSON object|unsupported|exceeds|invalid/,
        );
      }
    }
    expect(decoded).toBeGreaterThan(40);
  });

  it("keeps every exchange of v1 but the two about v1-only fields, and adds v2's own", () => {
    const titles = (ts: typeof built) => ts.flatMap((t) => t.exchanges.map((e) => e.title));
    const v1 = titles(transcripts());
    const v2 = titles(built);
    expect(v1.filter((title) => !v2.includes(title))).toEqual([
      "heartbeatSubject not the requester's",
      "targetPeerId not this node",
      "another version",
    ]);
    expect(v2.filter((title) => !v1.includes(title))).toEqual([
      "another version: a v1 request on the v2 subject",
      "a reply subject that is not the derived inbox",
    ]);
    // The credit arithmetic is v1's: v2's data frames have v1's sizes.
    const credit = (ts: typeof built) =>
      ts.flatMap((t) => t.exchanges.flatMap((e) => e.steps.flatMap((s) => s.credit ?? [])));
    expect(credit(built)).toEqual(credit(transcripts()));
  });
});
