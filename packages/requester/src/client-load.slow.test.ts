import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { collect, Rig } from "./test-helpers/rig.js";

let rig: Rig;
beforeAll(async () => {
  rig = await Rig.start();
});
afterEach(() => rig.cleanup());
afterAll(() => rig.stop());

describe("LogStreamClient: many streams", () => {
  it("carries 1,000 concurrent streams over 10 compute nodes on one frame subscription", async () => {
    const nc = await rig.connection();
    const subscribe = vi.spyOn(nc, "subscribe");
    const { client } = await rig.client({ connection: nc, acceptTimeoutMs: 20_000 });
    expect(subscribe).toHaveBeenCalledTimes(2); // frames wildcard + heartbeat, nothing per stream
    const computes = await Promise.all(Array.from({ length: 10 }, () => rig.compute()));
    let answered = 0;
    const release: Array<() => void> = [];
    for (const compute of computes) {
      compute.autoRespond((remote) => {
        remote.accept();
        remote.data([
          { seq: 1, line: `${remote.request.executionId} one` },
          { seq: 2, line: `${remote.request.executionId} two` },
        ]);
        answered++;
        // End only once every stream is open, so all 1,000 are open at the same time.
        release.push(() => remote.end(2));
      });
    }
    const streams = Array.from({ length: 1_000 }, (_, i) =>
      client.streamLogs({
        nodeId: computes[i % computes.length]!.nodeId,
        executionId: `exec-${i}`,
      }),
    );
    expect(client.stats().openStreams).toBe(1_000);
    await vi.waitFor(() => expect(answered).toBe(1_000), { timeout: 20_000 });
    await Promise.all(streams.map((s) => s.accepted));
    const stats = client.stats();
    expect(stats.openStreams).toBe(1_000);
    expect(stats.computeNodes).toHaveLength(10);
    expect(stats.computeNodes.every((n) => n.openStreams === 100)).toBe(true);
    for (const end of release) end();
    const results = await Promise.all(streams.map((s) => collect(s)));
    for (const [i, { entries, error }] of results.entries()) {
      expect(error).toBeUndefined();
      expect(entries.map((e) => e.line)).toEqual([`exec-${i} one`, `exec-${i} two`]);
    }
    expect(subscribe).toHaveBeenCalledTimes(2);
    expect(client.stats()).toMatchObject({
      openStreams: 0,
      framesReceived: 3_000,
      streamsEnded: { completed: 1_000 },
    });
  });
});
