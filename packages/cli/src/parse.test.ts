// The argument parsers of the command line: the kubectl / docker spellings they accept, and the
// typed usage errors (commander's InvalidArgumentError: exit 2) for everything else.
import { InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import { durationArgument, parseSince, streamsArgument, TAIL_ALL, tailArgument } from "./parse.js";

describe("tailArgument (--tail, -n)", () => {
  it("takes a count, and all / -1 for every line", () => {
    expect(tailArgument("20")).toBe(20);
    expect(tailArgument("0")).toBe(0);
    expect(tailArgument("all")).toBe(TAIL_ALL);
    expect(tailArgument("ALL")).toBe(TAIL_ALL);
    expect(tailArgument("-1")).toBe(TAIL_ALL);
  });
  it.each(["-2", "many", "1.5", ""])("refuses %j", (value) => {
    expect(() => tailArgument(value)).toThrow(InvalidArgumentError);
  });
});

describe("streamsArgument (--stream, repeatable)", () => {
  it("accumulates, splits commas and drops duplicates", () => {
    expect(streamsArgument("stdout", undefined)).toEqual(["stdout"]);
    expect(streamsArgument("stderr", ["stdout"])).toEqual(["stdout", "stderr"]);
    expect(streamsArgument("stderr,stdout", undefined)).toEqual(["stderr", "stdout"]);
    expect(streamsArgument("stdout", ["stdout"])).toEqual(["stdout"]);
  });
  it("refuses an unknown stream, naming it", () => {
    expect(() => streamsArgument("stdlog", undefined)).toThrow(/"stdlog"/);
  });
});

describe("parseSince (--since, --until)", () => {
  const now = Date.parse("2026-12-01T12:00:00Z");
  it("takes durations back from now, RFC 3339 and unix timestamps in seconds", () => {
    expect(parseSince("10m", now)).toBe(now - 600_000);
    expect(parseSince("2026-12-01T11:00:00Z", now)).toBe(now - 3_600_000);
    expect(parseSince("1714564800", now)).toBe(1_714_564_800_000);
    expect(parseSince("1714564800.25", now)).toBe(1_714_564_800_250);
  });
  it.each(["yesterday", "10 minutes", "-5"])("refuses %j", (value) => {
    expect(() => parseSince(value, now)).toThrow(InvalidArgumentError);
  });
});

describe("durationArgument (--reconnect-window)", () => {
  it("takes durations and 0", () => {
    expect(durationArgument("30s")).toBe(30_000);
    expect(durationArgument("1500ms")).toBe(1500);
    expect(durationArgument("0")).toBe(0);
    expect(() => durationArgument("30")).toThrow(InvalidArgumentError);
  });
});
