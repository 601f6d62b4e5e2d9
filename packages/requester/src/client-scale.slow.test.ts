import {
  ComputeNodeLostError,
  decodeHeartbeatResponse,
  decodeRequest,
  encode,
  MessageType,
  SUBJECT_PREFIX_COMPUTE,
  subjects,
} from "@tailwire/protocol";
import { withDeadline } from "@tailwire/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { Rig } from "./test-helpers/rig.js";

let rig: Rig;
beforeAll(async () => {
  rig = await Rig.start();
});
afterEach(() => rig.cleanup());
afterAll(() => rig.stop());

describe("LogStreamClient at scale", () => {
  it("keeps 10,000 streams over 2,000 compute nodes cheap to heartbeat, then declares them all lost", async () => {
    const nodes = 2_000;
    const perNode = 5;
    // Long enough that a loaded machine accepting 10,000 streams never looks like silence.
    const intervalMs = 2_000;
    const missed = 3;
    const { client } = await rig.client({
      heartbeatIntervalMs: intervalMs,
      computeLostAfterMissed: missed,
      acceptTimeoutMs: 30_000,
    });
    // One connection plays every compute node: it accepts each request in the target's name.
    const computeNc = await rig.connection();
    const served = new Map<string, string[]>();
    computeNc.subscribe(`${SUBJECT_PREFIX_COMPUTE}.*.ExecutionLogs/v1`, {
      callback: (_err, msg) => {
        const request = decodeRequest(msg.data);
        const ids = served.get(request.targetPeerId) ?? [];
        ids.push(request.streamId);
        served.set(request.targetPeerId, ids);
        msg.respond(
          encode({
            type: MessageType.Accepted,
            streamId: request.streamId,
            n: 0,
            computeNodeId: request.targetPeerId,
            afterSeq: 0,
            lastSeq: 0,
            maxFrameBytes: 65_536,
          }),
        );
      },
    });
    await computeNc.flush();

    const streams = [];
    for (let node = 0; node < nodes; node++) {
      for (let i = 0; i < perNode; i++) {
        streams.push(
          client.streamLogs({ nodeId: `node-${node}`, executionId: `exec-${i}`, follow: true }),
        );
      }
    }
    await withDeadline(Promise.all(streams.map((s) => s.accepted)), 30_000, "10,000 acceptances");
    expect(client.stats().openStreams).toBe(nodes * perNode);

    // One heartbeat round from every node, all at once, as 2,000 compute nodes would send it.
    const started = performance.now();
    const responses = await Promise.all(
      [...served].map(async ([nodeId, streamIds]) => {
        const msg = await computeNc.request(
          subjects.heartbeat(client.nodeId),
          encode({ type: MessageType.Heartbeat, computeNodeId: nodeId, streamIds }),
          { timeout: 10_000 },
        );
        return decodeHeartbeatResponse(msg.data);
      }),
    );
    const roundMs = performance.now() - started;
    expect(responses.every((r) => r.unknownStreamIds.length === 0)).toBe(true);
    expect(client.stats().heartbeatsAnswered).toBe(nodes);
    // Generous for a 2-core machine under test load; a per-heartbeat scan of all streams
    // (2,000 × 10,000) would not get near it.
    expect(roundMs).toBeLessThan(5_000);
    expect(client.stats().streamsEnded.compute_node_lost).toBe(0);

    // Then every node falls silent: all streams end as lost, none hangs.
    const silentSince = performance.now();
    const failures = await withDeadline(
      Promise.all(
        streams.map(async (s) => {
          try {
            for await (const _ of s) {
              // no data is sent
            }
            return undefined;
          } catch (error) {
            return error;
          }
        }),
      ),
      30_000,
      "10,000 streams to end as lost",
    );
    const lostAfterMs = performance.now() - silentSince;
    expect(failures.every((e) => e instanceof ComputeNodeLostError)).toBe(true);
    expect(lostAfterMs).toBeGreaterThanOrEqual(intervalMs * missed - roundMs - 50);
    expect(lostAfterMs).toBeLessThan(intervalMs * missed + 5_000);
    await vi.waitFor(() =>
      expect(client.stats()).toMatchObject({ openStreams: 0, computeNodes: [] }),
    );
    expect(client.stats().streamsEnded.compute_node_lost).toBe(nodes * perNode);
  }, 60_000);
});
