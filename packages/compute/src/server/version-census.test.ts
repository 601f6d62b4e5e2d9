import { describe, expect, it } from "vitest";
import { VersionCensus } from "./version-census.js";

describe("VersionCensus", () => {
  it("counts requests and open streams per version, and lists who used each lately", () => {
    let now = 1_000;
    const census = new VersionCensus(100, () => now);
    expect(census.request("v1", "old-r")).toBe(true);
    expect(census.request("v1", "old-r")).toBe(false);
    expect(census.request("v2", "new-r")).toBe(true);
    expect(census.stats(["v1", "v2"])).toEqual({
      v1: { requests: 2, openStreams: 1, recentRequesters: ["old-r"] },
      v2: { requests: 1, openStreams: 1, recentRequesters: ["new-r"] },
    });
    // An hour (here 100 ms) without v1 from old-r: it leaves the list, and is logged again.
    now += 60;
    census.request("v2", "new-r");
    now += 50;
    expect(census.stats().v1.recentRequesters).toEqual([]);
    expect(census.stats().v2.recentRequesters).toEqual(["new-r"]);
    expect(census.request("v1", "old-r")).toBe(true);
  });

  it("remembers a bounded number of requester ids, dropping the least recent", () => {
    const census = new VersionCensus();
    for (let i = 0; i < 10_050; i++) census.request("v1", `r${i}`);
    const ids = census.stats().v1.recentRequesters;
    expect(ids).toHaveLength(10_000);
    expect(ids).not.toContain("r0");
    expect(ids).toContain("r10049");
  });
});
