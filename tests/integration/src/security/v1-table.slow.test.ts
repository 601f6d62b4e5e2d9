// This release under SECURITY.md's v1 permission table, with the requester left at its default
// protocol "auto": its v2 request is refused by the server (a Publish Violation nats.js reports
// to it), and it asks the node in v1 at once, not after its accept timeout; the node, serving v1
// only as the table requires, streams as before.
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import { subjectsV2 } from "@tailwire/protocol";
import { LogStreamClient } from "@tailwire/requester";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecureNats } from "./cluster.js";

let nats: SecureNats;
beforeAll(async () => {
  nats = await SecureNats.start("v1");
});
afterAll(() => nats.stop());

describe("a requester of this release under the v1 table", () => {
  it("falls back to v1 on the server's refusal of its v2 request, long before the accept timeout", async () => {
    const store = new MemoryLogStore();
    await store.create("exec-1");
    for (let i = 1; i <= 3; i++) await store.append("exec-1", "stdout", `line ${i}`);
    await store.complete("exec-1", 0);
    const computeConn = await nats.compute("compute-a");
    const server = new LogStreamServer({
      connection: computeConn.nc,
      nodeId: "compute-a",
      source: store,
      versions: ["v1"],
    });
    await server.start();
    const requester = await nats.requester("req-1");
    const ACCEPT_TIMEOUT_MS = 20_000;
    const client = new LogStreamClient({
      connection: requester.nc,
      nodeId: "req-1",
      acceptTimeoutMs: ACCEPT_TIMEOUT_MS,
    });
    try {
      const started = Date.now();
      const stream = client.streamLogs({ computeNodeId: "compute-a", executionId: "exec-1" });
      const lines: string[] = [];
      for await (const entry of stream) if ("line" in entry) lines.push(entry.line);
      const tookMs = Date.now() - started;
      expect(lines).toEqual(["line 1", "line 2", "line 3"]);
      // A round trip to the server and back, not the accept timeout (a window, not a time).
      expect(tookMs).toBeLessThan(ACCEPT_TIMEOUT_MS / 4);
      const refused = subjectsV2.request("compute-a", "req-1");
      expect(requester.violations.map((v) => [v.operation, v.subject])).toEqual([
        ["publish", refused],
      ]);
      expect(client.stats().computeNodesOnV1).toEqual(["compute-a"]);
      expect(server.stats().versions.v1.recentRequesters).toEqual(["req-1"]);
      // The compute node itself triggered nothing under the v1 table.
      expect(computeConn.violations).toEqual([]);
    } finally {
      await client.close();
      await server.close();
    }
  });
});
