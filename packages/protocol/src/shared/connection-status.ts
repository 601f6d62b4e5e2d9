// Watching a NATS connection's status events (disconnect, reconnect, ...), for the requester
// and the compute node alike. Structural types only: protocol does not depend on NATS, and a
// connection without status() (a test double) is simply not watched.

/** One event of a nats.js status iterator; only its type is read. */
export interface ConnectionStatusEvent {
  type: string;
}

/** The subset of a nats.js status iterator used here (QueuedIterator has stop()). */
interface StatusIterable extends AsyncIterable<ConnectionStatusEvent> {
  stop?: () => void;
}

export interface ConnectionStatusHandlers {
  /** Checked before each event: once true, the watch ends. */
  stopped(): boolean;
  onEvent(event: ConnectionStatusEvent): void;
  /** The iterator failed: the watch is over (logged by the caller). */
  onError(error: unknown): void;
}

/** A running watch: stop() ends it (also when the connection has no status to watch). */
export interface ConnectionStatusWatch {
  stop(): void;
}

/**
 * Starts watching `connection.status()`, calling `onEvent` for each event until `stopped()`
 * or stop(). Handlers must not throw (a throw ends the watch through onError).
 */
export function watchConnectionStatus(
  connection: object,
  handlers: ConnectionStatusHandlers,
): ConnectionStatusWatch {
  const nc = connection as { status?: () => StatusIterable };
  if (typeof nc.status !== "function") return { stop: () => {} };
  const status = nc.status.call(connection);
  void (async () => {
    try {
      for await (const event of status) {
        if (handlers.stopped()) break;
        handlers.onEvent(event);
      }
    } catch (error) {
      handlers.onError(error);
    }
  })();
  return { stop: () => status.stop?.() };
}
