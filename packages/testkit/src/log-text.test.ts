// Pins what LogTextGenerator promises: deterministic, log-like, and compressible like logs are
// (neither like random bytes nor like one repeated line).
import { deflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { LogTextGenerator } from "./log-text.js";

const lines = new LogTextGenerator({ seed: 7 }).lines(20_000);
const text = lines.join("\n");

describe("LogTextGenerator", () => {
  it("gives the same lines for the same seed and others for another", () => {
    expect(new LogTextGenerator({ seed: 7 }).lines(500)).toEqual(lines.slice(0, 500));
    expect(new LogTextGenerator({ seed: 8 }).lines(500)).not.toEqual(lines.slice(0, 500));
  });

  it("writes timestamped, levelled lines with keys and numbers", () => {
    const stamped = lines.filter((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /.test(l));
    expect(stamped.length / lines.length).toBeGreaterThan(0.8);
    for (const level of ["INFO ", "DEBUG", "WARN ", "ERROR"])
      expect(lines.some((l) => l.slice(25, 30) === level)).toBe(true);
    expect(lines.filter((l) => / duration_ms=\d+\.\d /.test(l)).length).toBeGreaterThan(1000);
    expect(lines.filter((l) => / job_id=j-[0-9a-f]{8} /.test(l)).length).toBeGreaterThan(1000);
  });

  it("follows errors with stack traces of 4 to 9 frames", () => {
    let traces = 0;
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i]?.includes(" ERROR [") || !lines[i]?.includes("unhandled failure")) continue;
      let frames = 0;
      while (lines[i + 1 + frames]?.startsWith("    at ")) frames++;
      if (i + 1 + frames < lines.length) {
        expect(frames).toBeGreaterThanOrEqual(4);
        expect(frames).toBeLessThanOrEqual(9);
      }
      traces++;
    }
    expect(traces).toBeGreaterThan(200);
  });

  it("keeps time moving forward", () => {
    const times = lines.filter((l) => l[4] === "-").map((l) => Date.parse(l.slice(0, 24)));
    for (let i = 1; i < times.length; i++)
      expect(times[i] as number).toBeGreaterThanOrEqual(times[i - 1] as number);
  });

  it("is ASCII without newlines, lines of 30 to 300 bytes, about 140 on average", () => {
    expect(/^[\x20-\x7e\n]*$/.test(text)).toBe(true);
    for (const line of lines) {
      expect(line.length).toBeGreaterThanOrEqual(30);
      expect(line.length).toBeLessThanOrEqual(300);
    }
    const mean = text.length / lines.length;
    expect(mean).toBeGreaterThan(120);
    expect(mean).toBeLessThan(200);
  });

  it("has few repeated lines and compresses like logs: 3 to 8 times with deflate", () => {
    expect(new Set(lines).size / lines.length).toBeGreaterThan(0.9);
    const ratio = text.length / deflateSync(text, { level: 6 }).length;
    expect(ratio).toBeGreaterThan(3);
    expect(ratio).toBeLessThan(8);
  });
});
