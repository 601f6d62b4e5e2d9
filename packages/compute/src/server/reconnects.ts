// What the server does about its own NATS reconnects. After the connection was re-established,
// frames we sent and credit grants sent to us may have been lost on the way (a lost grant would
// leave a stream waiting for credit forever, with heartbeats still listing it). So every accepted
// stream ends with a retryable SEQUENCE_GAP error frame: a requester resumes from its last seq;
// none of our state is trusted further.
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "@tailwire/protocol";
import { type ConnectionStatusWatch, watchConnectionStatus } from "@tailwire/protocol/internal";
import type { ServedStream } from "./served-stream.js";

/** Calls `onReconnect` on each reconnect until `stopped()`; stop() the result to end it. */
export function watchReconnects(
  connection: NatsConnection,
  log: Logger,
  stopped: () => boolean,
  onReconnect: () => void,
): ConnectionStatusWatch {
  return watchConnectionStatus(connection, {
    stopped,
    onEvent: (event) => {
      if (event.type === "reconnect") onReconnect();
    },
    onError: (error) => log.warn({ err: error }, "connection status watch failed"),
  });
}

/** The final frame of an accepted stream ended by a reconnect. */
export const reconnectGap =
  (stream: ServedStream) =>
  (n: number | undefined): Uint8Array =>
    stream.wire.error(
      stream.streamId,
      "SEQUENCE_GAP",
      "the compute node's NATS connection was re-established: frames or credit may have been lost",
      n,
    );
