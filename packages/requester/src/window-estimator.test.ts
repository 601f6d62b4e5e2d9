// The adaptive window's estimator and credit, driven by a simulated path: a compute node that
// sends as fast as its credit and a link allow, a round trip of fixed length, a consumer at a
// given pace. Checks that the window grows to twice the bandwidth-delay product, stays within
// the floor and the cap, shrinks for a slow consumer, and that grants keep the protocol's rule.
import { describe, expect, it } from "vitest";
import { AdaptiveCredit } from "./adaptive-credit.js";
import { WindowEstimator } from "./window-estimator.js";

const KiB = 1024;
const MiB = 1024 * KiB;

describe("WindowEstimator", () => {
  it("knows nothing before a round trip and keeps the floor", () => {
    const estimator = new WindowEstimator(64 * KiB, 64 * KiB, 64 * MiB);
    expect(estimator.rttMs).toBeUndefined();
    expect(estimator.window).toBe(64 * KiB);
    estimator.received(32 * KiB, 1);
    expect(estimator.window).toBe(64 * KiB);
  });

  it("takes a round trip from a grant to the first byte past the limit it raised", () => {
    const estimator = new WindowEstimator(64 * KiB, 64 * KiB, 64 * MiB);
    estimator.received(64 * KiB, 5); // up to the limit: no sample
    estimator.granted(32 * KiB, 10);
    estimator.received(16 * KiB, 45); // past the old limit: it needed the grant
    expect(estimator.rttMs).toBe(35);
    estimator.granted(32 * KiB, 50);
    estimator.received(32 * KiB, 130); // slower: the minimum stays
    expect(estimator.rttMs).toBe(35);
    // The rate of that round: 32 KiB over 85 ms.
    expect(estimator.rateBytesPerMs).toBeCloseTo((32 * KiB) / 85, 5);
    // Twice 385 bytes/ms × 35 ms is 27 KB: below the floor, which stays.
    expect(estimator.window).toBe(64 * KiB);
  });

  it("stays within the cap, which can change", () => {
    const estimator = new WindowEstimator(1 * MiB, 1 * MiB, 4 * MiB);
    estimator.received(1 * MiB, 0);
    let t = 0;
    for (let i = 0; i < 5; i++) {
      estimator.granted(1 * MiB, t);
      t += 10;
      estimator.received(1 * MiB, t); // 100 KiB/ms at 10 ms: BDP 1 MiB, wants 2 MiB... then more
    }
    expect(estimator.window).toBe(2 * MiB);
    estimator.setCap(1.5 * MiB);
    expect(estimator.window).toBe(1.5 * MiB);
    estimator.setCap(1);
    expect(estimator.window).toBe(1 * MiB); // never below the floor
  });
});

/**
 * A compute node `rttMs` away that sends frames of `frameBytes` whenever it holds credit, at most
 * `linkBytesPerMs`; a consumer taking `consumeBytesPerMs`. Time advances in 1 ms steps. Returns
 * what the requester's credit did.
 */
function simulate(options: {
  window: number;
  cap: number;
  rttMs: number;
  linkBytesPerMs: number;
  consumeBytesPerMs: number;
  ms: number;
  frameBytes?: number;
}) {
  const frameBytes = options.frameBytes ?? 16 * KiB;
  let now = 0;
  const credit = new AdaptiveCredit(options.window, options.window, options.cap, () => now);
  credit.fitFrames(frameBytes);
  const half = options.rttMs / 2;
  let limitAtCompute = options.window; // what the compute node knows
  const grantsInFlight: { at: number; bytes: number }[] = [];
  const framesInFlight: { at: number; bytes: number }[] = [];
  let sent = 0;
  let granted = 0;
  let received = 0;
  let released = 0;
  let buffered = 0;
  let maxBuffered = 0;
  let maxOutstanding = 0;
  let consumable = 0;
  let linkBudget = 0;
  for (now = 0; now < options.ms; now++) {
    while (grantsInFlight.length > 0 && (grantsInFlight[0] as { at: number }).at <= now)
      limitAtCompute += (grantsInFlight.shift() as { bytes: number }).bytes;
    linkBudget = Math.min(linkBudget + options.linkBytesPerMs, frameBytes * 4);
    while (sent + frameBytes <= limitAtCompute && linkBudget >= frameBytes) {
      sent += frameBytes;
      linkBudget -= frameBytes;
      framesInFlight.push({ at: now + half, bytes: frameBytes });
    }
    while (framesInFlight.length > 0 && (framesInFlight[0] as { at: number }).at <= now) {
      const { bytes } = framesInFlight.shift() as { bytes: number };
      received += bytes;
      buffered += bytes;
      credit.received(bytes);
    }
    maxBuffered = Math.max(maxBuffered, buffered);
    consumable = Math.min(buffered, consumable + options.consumeBytesPerMs);
    // The consumer takes whole frames.
    while (consumable >= frameBytes) {
      consumable -= frameBytes;
      buffered -= frameBytes;
      released += frameBytes;
      const grant = credit.consumed(frameBytes);
      if (grant > 0) {
        granted += grant;
        grantsInFlight.push({ at: now + half, bytes: grant });
      }
      // The protocol's rule: released but not granted stays below half the base window, so
      // the credit outstanding never drops to half the window.
      expect(options.window + granted - released).toBeGreaterThan(options.window / 2);
    }
    maxOutstanding = Math.max(maxOutstanding, options.window + granted - released);
  }
  return {
    received,
    maxBuffered,
    maxOutstanding,
    window: credit.window,
    estimator: credit.estimator,
  };
}

describe("AdaptiveCredit on a simulated path", () => {
  it("grows a small window to about twice the path's bandwidth-delay product", () => {
    // 10 MB/s (10 KiB/ms) at 100 ms: BDP 1000 KiB; the window starts at 64 KiB.
    const fixed = simulate({
      window: 64 * KiB,
      cap: 64 * KiB,
      rttMs: 100,
      linkBytesPerMs: 10 * KiB,
      consumeBytesPerMs: 1e9,
      ms: 5000,
    });
    const adaptive = simulate({
      window: 64 * KiB,
      cap: 64 * MiB,
      rttMs: 100,
      linkBytesPerMs: 10 * KiB,
      consumeBytesPerMs: 1e9,
      ms: 5000,
    });
    expect(fixed.window).toBe(64 * KiB);
    expect(adaptive.estimator.rttMs).toBeGreaterThanOrEqual(100);
    expect(adaptive.estimator.rttMs).toBeLessThan(110);
    expect(adaptive.window).toBeGreaterThan(1.5 * 1000 * KiB);
    expect(adaptive.window).toBeLessThan(3 * 1000 * KiB);
    // The fixed window carries 64 KiB per round trip; the adaptive one fills the link.
    expect(fixed.received).toBeLessThan(5000 * 0.7 * KiB);
    expect(adaptive.received).toBeGreaterThan(5000 * 10 * KiB * 0.8);
  });

  it("never grows past the cap: memory stays within it", () => {
    const result = simulate({
      window: 64 * KiB,
      cap: 512 * KiB,
      rttMs: 100,
      linkBytesPerMs: 10 * KiB,
      consumeBytesPerMs: 1e9,
      ms: 3000,
    });
    expect(result.window).toBe(512 * KiB);
    expect(result.maxOutstanding).toBeLessThanOrEqual(512 * KiB);
    expect(result.maxBuffered).toBeLessThanOrEqual(512 * KiB);
  });

  it("keeps the base window for a consumer slower than the link", () => {
    // The consumer takes 0.2 KiB/ms: twice rate × round trip is 40 KiB, below the 256 KiB base.
    const result = simulate({
      window: 256 * KiB,
      cap: 64 * MiB,
      rttMs: 100,
      linkBytesPerMs: 10 * KiB,
      consumeBytesPerMs: 0.2 * KiB,
      ms: 20_000,
    });
    expect(result.window).toBe(256 * KiB);
    expect(result.maxBuffered).toBeLessThanOrEqual(256 * KiB);
  });

  it("shrinks back when the consumer slows down, by holding back grants", () => {
    let now = 0;
    const credit = new AdaptiveCredit(64 * KiB, 64 * KiB, 64 * MiB, () => now);
    // Rounds of 10 ms delivering 640 KiB each: 64 KiB/ms, BDP 640 KiB.
    credit.received(64 * KiB);
    for (let round = 0; round < 4; round++) {
      credit.consumed(32 * KiB);
      now += 10;
      credit.received(640 * KiB);
    }
    const grown = credit.window;
    expect(grown).toBeGreaterThan(64 * KiB);
    // Now 1 KiB per 100 ms round trip: the rate falls out of the last 8 rounds.
    for (let round = 0; round < 12; round++) {
      credit.consumed(32 * KiB);
      now += 100;
      credit.received(1 * KiB);
    }
    expect(credit.window).toBeLessThan(grown);
    expect(credit.window).toBeGreaterThanOrEqual(64 * KiB);
  });
});
