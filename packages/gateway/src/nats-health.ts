// Whether the gateway's NATS connection is up, for /healthz and for refusing new streams while
// it is down: follows the connection's status events.
import type { NatsConnection } from "@nats-io/nats-core";

export interface ConnectionHealth {
  connected(): boolean;
  stop(): void;
}

export function trackConnection(connection: NatsConnection): ConnectionHealth {
  let up = true;
  const statuses = connection.status()[Symbol.asyncIterator]();
  void (async () => {
    for (;;) {
      const next = await statuses.next();
      if (next.done) return;
      if (next.value.type === "disconnect") up = false;
      else if (next.value.type === "reconnect") up = true;
    }
  })().catch(() => {});
  return {
    connected: () => up && !connection.isClosed(),
    stop() {
      void statuses.return?.();
    },
  };
}
