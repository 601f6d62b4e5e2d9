// Watches the server's NATS connection for reconnects (the connection-status watcher, moved here
// as it was from log-stream-server.ts).
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "@tailwire/protocol";

/** The part of a nats.js status iterator the server uses. */
interface StatusIterable extends AsyncIterable<{ type: string }> {
  stop?: () => void;
}

/**
 * Calls `onReconnect` each time the connection was re-established, while `running()` holds.
 * Returns what stops the watch (nothing to stop for a connection without status()).
 */
export function watchReconnects(
  connection: NatsConnection,
  running: () => boolean,
  onReconnect: () => void,
  log: Logger,
): () => void {
  const nc = connection as Partial<Pick<NatsConnection, "status">>;
  if (typeof nc.status !== "function") return () => {};
  // The connection's status iterator (nats.js QueuedIterator: has stop()).
  const status = nc.status.call(connection) as StatusIterable;
  void (async () => {
    try {
      for await (const event of status) {
        if (!running()) break;
        if (event.type === "reconnect") onReconnect();
      }
    } catch (error) {
      log.warn({ err: error }, "connection status watch failed");
    }
  })();
  return () => status.stop?.();
}
