// The README's example (examples/embed-gateway.ts) runs against a real nats-server and compute
// node, so it cannot rot.
import { describe, expect, it } from "vitest";
import { main } from "../examples/embed-gateway.js";
import { appendLines, Rig } from "./test-helpers/rig.js";

describe("README example", () => {
  it("embeds the gateway under /logs in the orchestrator's Fastify, with its own authorize", async () => {
    const rig = await Rig.start();
    const embedded = await main({ servers: rig.nats.url, owners: { "e-42": "alice" } });
    try {
      const compute = await rig.compute();
      await appendLines(compute.store, "e-42", 3);
      await compute.store.complete("e-42", 0);
      const path = `${embedded.url}/v1/executions/e-42/logs?node=${compute.nodeId}`;
      const ok = await fetch(path, { headers: { "x-user": "alice" } });
      expect([ok.status, await ok.text()]).toEqual([200, "line 1\nline 2\nline 3\n"]);
      const denied = await fetch(path, { headers: { "x-user": "mallory" } });
      expect([denied.status, (await denied.json()).code]).toEqual([403, "FORBIDDEN"]);
      const bare = await fetch(embedded.url, { redirect: "manual" });
      expect([bare.status, bare.headers.get("location")]).toEqual([308, "/logs/"]);
      const page = await fetch(`${embedded.url}/`);
      expect([page.status, page.headers.get("content-type")]).toEqual([
        200,
        "text/html; charset=utf-8",
      ]);
    } finally {
      await embedded.close();
      await rig.stop();
    }
  });
});
