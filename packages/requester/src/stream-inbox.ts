// The stream inbox: every frame on `_TW.<id>.s.*` (v1) and `_TW.<id>.v2.<compute>.s.*` (v2)
// routed to its stream's current attempt, and what the attempt says it received acted on
// (entries to the stream, breaks and ends to the lifecycle, what was heard to liveness).
import type { Msg } from "@nats-io/nats-core";
import {
  type Logger,
  ProtocolError,
  parseRequesterSubjectV2,
  streamIdOfInbox,
  type TailwireError,
} from "@tailwire/protocol";
import type { Liveness } from "./liveness.js";
import type { ClientStream } from "./log-stream.js";
import { MAX_BUFFERED_NOTICES } from "./notices.js";
import type { StreamLifecycle } from "./stream-lifecycle.js";

export class StreamInbox {
  readonly #streams: StreamLifecycle;
  readonly #liveness: Liveness<ClientStream>;
  readonly #logger: Logger;
  readonly #counters = { framesReceived: 0, framesRejected: 0, framesIgnored: 0 };

  constructor(streams: StreamLifecycle, liveness: Liveness<ClientStream>, logger: Logger) {
    this.#streams = streams;
    this.#liveness = liveness;
    this.#logger = logger;
  }

  stats(): { framesReceived: number; framesRejected: number; framesIgnored: number } {
    return { ...this.#counters };
  }

  /** A v1 frame (`_TW.<id>.s.<streamId>`), for a stream asked in v1. */
  receive(msg: Msg): void {
    this.#counters.framesReceived++;
    const stream = this.#streams.route(streamIdOfInbox(msg.subject));
    if (stream?.attempt.version !== "v1") {
      // Late frames of a stream that already ended, or a stranger's: nothing to do but count.
      this.#counters.framesIgnored++;
      return;
    }
    this.#handle(stream, msg);
  }

  /**
   * A v2 frame counts only on the subject of the compute node its stream asked: the sender's id
   * there is its login's (SECURITY.md), so no other node can inject into the stream.
   */
  receiveV2(msg: Msg): void {
    this.#counters.framesReceived++;
    const from = parseRequesterSubjectV2(msg.subject);
    const stream = from?.kind === "s" ? this.#streams.route(from.id) : undefined;
    if (stream?.attempt.version !== "v2" || stream.computeNodeId !== from?.computeNodeId) {
      this.#counters.framesIgnored++;
      return;
    }
    this.#handle(stream, msg);
  }

  #handle(stream: ClientStream, msg: Msg): void {
    const headers = msg.headers;
    const received = stream.attempt.receive(headers?.code ?? 0, headers?.status, msg.data);
    const streams = this.#streams;
    if (received.kind === "ignored") {
      this.#counters.framesIgnored++;
      this.#logger.debug({ streamId: stream.streamId, reason: received.reason }, "frame ignored");
      return;
    }
    if (received.kind === "unreachable") {
      // A node that does not serve v2 yet is asked in v1 at once ("auto").
      if (streams.v2Unanswered(stream, "no responders")) return;
      streams.broken(stream, received.error, "error", false);
      return;
    }
    if (received.at !== undefined) this.#liveness.heard(stream.computeNodeId, received.at);
    switch (received.kind) {
      case "rejected":
        this.#reject(stream, received.error);
        break;
      case "gap":
        streams.end(stream, "error", received.error, { discard: false, notifyCompute: true });
        break;
      case "accepted":
        this.#liveness.accepted(stream.computeNodeId, received.at);
        stream.markAccepted(received.frame, received.at);
        break;
      case "data":
        if (received.entries.length === 0) {
          // Only pieces of a partial line: the reader holds them, so grant the bytes back now,
          // or a line longer than the window would stall the stream forever.
          streams.released(stream, received.bytes);
        } else {
          stream.budget.progress();
          stream.push(received.entries, received.bytes);
        }
        break;
      case "notice":
        stream.budget.progress();
        stream.pushNotice(received.notice);
        // Notices take no credit: a compute node may not pile up more than this unread.
        if (stream.bufferedNotices > MAX_BUFFERED_NOTICES) {
          this.#reject(
            stream,
            new ProtocolError(
              `the compute node sent more than ${MAX_BUFFERED_NOTICES} removal notices the consumer has not taken`,
            ),
          );
        }
        break;
      case "end":
        stream.setExitCode(received.frame.exitCode);
        streams.end(stream, "completed", undefined, { discard: false, notifyCompute: false });
        break;
      case "error":
        streams.broken(stream, received.error, "error", false);
        break;
    }
  }

  #reject(stream: ClientStream, error: TailwireError): void {
    this.#counters.framesRejected++;
    this.#streams.broken(stream, error, "protocol_error");
  }
}
