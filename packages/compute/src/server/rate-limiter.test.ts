import { describe, expect, it } from "vitest";
import { RateLimiter } from "./rate-limiter.js";

describe("RateLimiter", () => {
  it("allows bursts up to the rate, then refills at the rate", () => {
    let now = 0;
    const limiter = new RateLimiter(5, () => now);
    const burst = Array.from({ length: 7 }, () => limiter.take("a"));
    expect(burst).toEqual([true, true, true, true, true, false, false]);
    expect(limiter.take("b")).toBe(true); // per key
    now += 200; // one token back at 5/s
    expect(limiter.take("a")).toBe(true);
    expect(limiter.take("a")).toBe(false);
    now += 10_000; // never more than the burst
    expect(Array.from({ length: 6 }, () => limiter.take("a")).filter(Boolean)).toHaveLength(5);
  });

  it("a separate burst: a node-wide bucket of 2 per second with bursts of 4", () => {
    let now = 0;
    const limiter = new RateLimiter(2, () => now, 4);
    expect(Array.from({ length: 5 }, () => limiter.take("node"))).toEqual([
      true,
      true,
      true,
      true,
      false,
    ]);
    now += 500; // one token back at 2/s
    expect(limiter.take("node")).toBe(true);
    expect(limiter.take("node")).toBe(false);
  });
});
