// NATS helpers for the testkit's own tests: recording status events, collecting a subject's payloads.
import type { NatsConnection, Status } from "@nats-io/transport-node";

/** Records every status event of `nc` from now on, for assertions with vi.waitFor. */
export function recordStatus(nc: NatsConnection): Status[] {
  const events: Status[] = [];
  void (async () => {
    for await (const status of nc.status()) events.push(status);
  })();
  return events;
}

/** Subscribes to `subject` and collects payloads as strings. */
export function collect(nc: NatsConnection, subject: string): string[] {
  const received: string[] = [];
  nc.subscribe(subject, {
    callback: (_err, msg) => {
      received.push(msg.string());
    },
  });
  return received;
}
