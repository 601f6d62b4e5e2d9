import { describe, expect, it } from "vitest";
import { WireChoice } from "./wire-choice.js";

describe("WireChoice", () => {
  it("auto: v2 first, v1 at once for a node that did not answer v2, v2 again after the fallback", () => {
    let now = 0;
    const choice = new WireChoice("auto", 1_000, () => now);
    expect(choice.versionFor("old")).toBe("v2");
    expect(choice.v2Unanswered("old")).toEqual({ retryInV1: true, first: true });
    expect(choice.versionFor("old")).toBe("v1");
    expect(choice.versionFor("new")).toBe("v2");
    expect(choice.nodesOnV1()).toEqual(["old"]);
    now = 999;
    expect(choice.versionFor("old")).toBe("v1");
    now = 1_000;
    // Upgraded meanwhile? It is asked v2 again; if it still lacks it, the fallback is renewed.
    expect(choice.versionFor("old")).toBe("v2");
    expect(choice.nodesOnV1()).toEqual([]);
    expect(choice.v2Unanswered("old")).toEqual({ retryInV1: true, first: true });
    expect(choice.v2Unanswered("old")).toEqual({ retryInV1: true, first: false });
  });

  it("v1 and v2 use that version only and never fall back", () => {
    for (const version of ["v1", "v2"] as const) {
      const choice = new WireChoice(version);
      expect(choice.versionFor("any")).toBe(version);
      expect(choice.v2Unanswered("any")).toEqual({ retryInV1: false, first: false });
      expect(choice.versionFor("any")).toBe(version);
      expect(choice.nodesOnV1()).toEqual([]);
    }
  });

  it("refuses an unknown option", () => {
    expect(() => new WireChoice("v3" as never)).toThrow(RangeError);
  });
});
