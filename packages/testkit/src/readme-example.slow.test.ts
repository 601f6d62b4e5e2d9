// The README's example, verbatim apart from the imports, so the documentation cannot rot.
import { connect } from "@nats-io/transport-node";
import { expect, it } from "vitest";
import { NatsServer } from "./index.js";

it("round-trips a request", async () => {
  await using server = await NatsServer.start({ config: { max_payload: 4096 } });
  const nc = await connect({ servers: server.url });
  nc.subscribe("echo", {
    callback: (_err, msg) => {
      msg.respond(msg.data);
    },
  });
  expect((await nc.request("echo", "hi", { timeout: 1000 })).string()).toBe("hi");
  await nc.close();
}); // the server is stopped and its temp dir removed here
