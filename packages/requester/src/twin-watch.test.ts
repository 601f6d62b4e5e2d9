// TwinWatch: a foreign stream id that stays listed is a twin; one listed once (a previous
// life's, dropped on the first answer) is not.
import { describe, expect, it } from "vitest";
import { TwinWatch } from "./twin-watch.js";

describe("TwinWatch", () => {
  it("a foreign id listed in two heartbeats in a row of the same node is a twin", () => {
    const watch = new TwinWatch();
    expect(watch.heartbeat("c1", ["other"], 0)).toBe(false);
    expect(watch.heartbeat("c1", ["other"], 200)).toBe(true);
  });

  it("a foreign id listed once (a restart's stale stream) is not, nor the same id on another node", () => {
    const watch = new TwinWatch();
    expect(watch.heartbeat("c1", ["stale"], 0)).toBe(false);
    expect(watch.heartbeat("c2", ["stale"], 100)).toBe(false);
    expect(watch.heartbeat("c1", [], 200)).toBe(false);
    expect(watch.heartbeat("c1", ["stale"], 400)).toBe(false);
  });

  it("remembers when a node last listed foreign ids", () => {
    const watch = new TwinWatch();
    expect(watch.foreignSince("c1", 0)).toBe(false);
    watch.heartbeat("c1", ["other"], 1000);
    watch.heartbeat("c1", [], 1200);
    expect(watch.foreignSince("c1", 800)).toBe(true);
    expect(watch.foreignSince("c1", 1001)).toBe(false);
    expect(watch.foreignSince("c2", 0)).toBe(false);
  });
});
