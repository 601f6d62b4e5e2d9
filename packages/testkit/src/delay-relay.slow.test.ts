// DelayRelay adds its delay to a real round trip: a NATS connection through it measures twice
// the one-way delay (within a window), and messages still get through both ways.
import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { DelayRelay } from "./delay-relay.js";
import { NatsServer } from "./nats-server.js";

describe("DelayRelay", () => {
  it("makes a NATS round trip take twice its one-way delay", async () => {
    await using server = await NatsServer.start();
    const { hostname, port } = new URL(server.url);
    await using relay = await DelayRelay.start({
      targetHost: hostname,
      targetPort: Number(port),
      oneWayDelayMs: 40,
    });
    const direct = await connect({ servers: server.url });
    const delayed = await connect({ servers: relay.url });
    try {
      direct.subscribe("echo", {
        callback: (_err, msg) => {
          msg.respond(msg.data);
        },
      });
      await direct.flush();
      const rtts: number[] = [];
      for (let i = 0; i < 5; i++) rtts.push(await delayed.rtt());
      expect(Math.min(...rtts)).toBeGreaterThanOrEqual(79);
      expect(Math.min(...rtts)).toBeLessThan(400);
      const start = performance.now();
      const answer = await delayed.request("echo", "hi", { timeout: 5000 });
      expect(answer.string()).toBe("hi");
      expect(performance.now() - start).toBeGreaterThanOrEqual(79);
    } finally {
      await delayed.close();
      await direct.close();
    }
  });
});
