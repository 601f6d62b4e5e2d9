// The heartbeat timeout a requester asks for is one the compute node applies as it is.
import { maxHeartbeatTimeoutMs } from "@tailwire/protocol";
import { describe, expect, it } from "vitest";
import { resolveOptions } from "./options.js";

const base = { connection: {} as never, nodeId: "requester-1" };

describe("heartbeat timeout", () => {
  it("defaults to 2 s, or half the interval when that is shorter", () => {
    expect(resolveOptions(base).heartbeatTimeoutMs).toBe(2000);
    expect(resolveOptions({ ...base, heartbeatIntervalMs: 200 }).heartbeatTimeoutMs).toBe(100);
    expect(resolveOptions({ ...base, heartbeatIntervalMs: 3000 }).heartbeatTimeoutMs).toBe(1500);
  });

  it("refuses a timeout the compute node would cap (over 0.9 × the interval)", () => {
    // What the CLI once sent: 2000 ms with a 200 ms interval, silently cut to 180 by the node.
    expect(() =>
      resolveOptions({ ...base, heartbeatIntervalMs: 200, heartbeatTimeoutMs: 2000 }),
    ).toThrow(RangeError);
    expect(maxHeartbeatTimeoutMs(200)).toBe(180);
    expect(
      resolveOptions({ ...base, heartbeatIntervalMs: 200, heartbeatTimeoutMs: 180 })
        .heartbeatTimeoutMs,
    ).toBe(180);
    expect(() =>
      resolveOptions({ ...base, heartbeatIntervalMs: 200, heartbeatTimeoutMs: 181 }),
    ).toThrow(/heartbeatTimeoutMs/);
  });
});
