import { describe, expect, it } from "vitest";
import { CreditMeter } from "./credit-meter.js";

describe("CreditMeter", () => {
  it("batches grants to half a window", () => {
    const meter = new CreditMeter(1000);
    expect(meter.consumed(200)).toBe(0);
    expect(meter.consumed(200)).toBe(0);
    expect(meter.consumed(200)).toBe(600);
    expect(meter.pending).toBe(0);
    expect(meter.consumed(499)).toBe(0);
    expect(meter.consumed(1)).toBe(500);
  });

  it("never grants more than the protocol allows in one grant", () => {
    const meter = new CreditMeter(1 << 30);
    expect(meter.consumed(1 << 30)).toBe(1 << 30);
    meter.consumed((1 << 29) - 1);
    expect(meter.consumed((1 << 30) + 1)).toBe(1 << 30);
    expect(meter.pending).toBe(1 << 29);
  });

  it("grants early enough for frames larger than half the window (a compute node off the spec)", () => {
    const meter = new CreditMeter(1000);
    // Frames of half the window (what the spec allows): nothing changes.
    meter.fitFrames(500);
    expect(meter.consumed(499)).toBe(0);
    expect(meter.consumed(1)).toBe(500);
    // Frames of 900 bytes: more than 100 ungranted would leave less than a frame of credit.
    meter.fitFrames(900);
    expect(meter.consumed(100)).toBe(0);
    expect(meter.consumed(1)).toBe(101);
    meter.fitFrames(5000);
    expect(meter.consumed(1)).toBe(1);
  });
});
