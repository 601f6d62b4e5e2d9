import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { CreditGate } from "./credit-gate.js";

describe("CreditGate", () => {
  it("lets bytes through up to the window, then waits for a grant", async () => {
    const gate = new CreditGate(1000);
    expect(gate.tryTake(600)).toBe(true);
    expect(gate.tryTake(500)).toBe(false);
    const signal = new AbortController().signal;
    let taken = false;
    const waiting = gate.take(500, signal).then((ok) => {
      taken = ok;
    });
    gate.grant(50);
    await Promise.resolve();
    expect(taken).toBe(false);
    gate.grant(50);
    await waiting;
    expect(taken).toBe(true);
    expect(gate.sent).toBe(1100);
    expect(gate.available).toBe(0);
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
  });

  it("resolves false on abort and leaves no listener", async () => {
    const gate = new CreditGate(10);
    const controller = new AbortController();
    const waiting = gate.take(100, controller.signal);
    controller.abort();
    expect(await waiting).toBe(false);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
    expect(gate.sent).toBe(0);
  });
});
