// A deliberately broken compute node for the kit's own tests: it ignores credit (sends a whole
// log at once), skips frame number 2 and states maxFrameBytes = window. Plain NATS.
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { decodeRequest, encode, encodeDataFrame, MessageType, subjects } from "@tailwire/protocol";
import { packFrames } from "../requester/frame-packer.js";
import { readSeeds, seedEntries } from "../seeds.js";

export function startFaultyCompute(nc: NatsConnection, nodeId: string): Subscription {
  const seeds = new Map(readSeeds().map((seed) => [seed.executionId, seed]));
  return nc.subscribe(subjects.request(nodeId), {
    callback: (_error, msg) => {
      const request = decodeRequest(msg.data);
      const reply = msg.reply!;
      const seed = seeds.get(request.executionId);
      const streamId = request.streamId;
      if (!seed) return;
      const entries = seedEntries(seed);
      nc.publish(
        reply,
        encode({
          type: MessageType.Accepted,
          streamId,
          n: 0,
          computeNodeId: nodeId,
          afterSeq: 0,
          lastSeq: entries.length,
          maxFrameBytes: request.window,
        }),
      );
      let n = 1;
      for (const frame of packFrames(streamId, entries, request.window)) {
        if (n === 2) n++; // frame 2 is "lost"
        nc.publish(reply, encodeDataFrame(streamId, n++, frame.entries, frame.partial));
      }
      nc.publish(
        reply,
        encode({
          type: MessageType.End,
          streamId,
          n,
          lastSeq: entries.length,
          exitCode: seed.exitCode,
        }),
      );
    },
  });
}
