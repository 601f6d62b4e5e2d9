// The README's example (examples/check-a-compute-node.ts) runs against a real nats-server.
import { NatsServer } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../examples/check-a-compute-node.js";

let nats: NatsServer;
beforeAll(async () => {
  nats = await NatsServer.start();
});
afterAll(async () => {
  await nats?.stop();
});

describe("README example", () => {
  it("checks our compute node and prints one line per rule", async () => {
    const { ok, text } = await main(nats.url, ["read-options", "rejections"]);
    expect(text).toMatch(/^PASS C-READ-OPTIONS \[A stream, from request to end\] — /m);
    expect(text).toMatch(/^PASS C-REJECT-EXECUTION_NOT_FOUND /m);
    expect(text).toMatch(/^PASS C-REJECT-TAIL_TOO_LARGE /m);
    expect(text).toMatch(/^N\/A C-CANCEL \[Cancel\] — not run/m);
    // maxFrameBytes <= window / 2 is one of issue 15's fixes: until it lands this run fails.
    expect(text).toMatch(/^(PASS|FAIL) C-MAX-FRAME-HALF-WINDOW /m);
    expect(ok).toBe(!/^FAIL /m.test(text));
  }, 30_000);
});
