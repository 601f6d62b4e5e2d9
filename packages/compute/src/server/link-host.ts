// What the requester links' heartbeat loops report to the server (beats sent and failed, streams
// the requester no longer knows, a requester lost) and what the server does about each: count,
// log, end the streams concerned.
import type { Logger } from "@tailwire/protocol";
import type { LinkHost } from "./requester-link.js";
import type { EndCause, ServedStream } from "./served-stream.js";
import type { Counters } from "./stats.js";

export interface LinkHostDeps {
  computeNodeId: string;
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<{ data: Uint8Array }>;
  counters: Counters;
  log: Logger;
  /** Ends a stream silently (no final frame): the requester does not want it or is gone. */
  end(stream: ServedStream, cause: EndCause): void;
}

export function linkHost(deps: LinkHostDeps): LinkHost {
  const { counters, log, end } = deps;
  return {
    nodeId: deps.computeNodeId,
    request: deps.request,
    heartbeatSent: () => {
      counters.heartbeatsSent++;
    },
    heartbeatFailed: (link, failure, error) => {
      counters.heartbeatsFailed++;
      log.debug(
        {
          requesterNodeId: link.requesterNodeId,
          failure,
          failures: link.consecutiveFailures,
          err: error,
        },
        "heartbeat failed",
      );
    },
    unknownToRequester: (_link, streams) => {
      for (const stream of streams) end(stream, "unknown_to_requester");
    },
    requesterLost: (link) => {
      log.warn(
        {
          requesterNodeId: link.requesterNodeId,
          heartbeatSubject: link.heartbeatSubject,
          streams: link.streams.size,
        },
        "requester lost: releasing its streams",
      );
      for (const stream of [...link.streams.values()]) end(stream, "requester_lost");
    },
  };
}
