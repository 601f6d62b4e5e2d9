// The gateway's Prometheus metrics (prom-client), on a registry of its own so that two gateways
// in one process, or a host's own metrics, never collide.
import type { LogStreamClient } from "@tailwire/requester";
import { Counter, Gauge, Registry } from "prom-client";
import type { LogFormat } from "./query.js";

export class GatewayMetrics {
  readonly registry: Registry;
  readonly openStreams: Gauge<"format">;
  readonly linesSent: Counter<"format">;
  readonly bytesSent: Counter<"format">;
  readonly httpErrors: Counter<"code" | "status">;
  readonly streamErrors: Counter<"code">;
  readonly streamsStarted: Counter<"format">;
  readonly resumes: Counter;

  constructor(client: LogStreamClient, registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.openStreams = new Gauge({
      name: "tailwire_gateway_open_streams",
      help: "Log streams being served over HTTP",
      labelNames: ["format"],
      registers,
    });
    this.streamsStarted = new Counter({
      name: "tailwire_gateway_streams_total",
      help: "Log streams started over HTTP (accepted by the compute node)",
      labelNames: ["format"],
      registers,
    });
    this.linesSent = new Counter({
      name: "tailwire_gateway_lines_sent_total",
      help: "Log lines written to HTTP clients",
      labelNames: ["format"],
      registers,
    });
    this.bytesSent = new Counter({
      name: "tailwire_gateway_bytes_sent_total",
      help: "Response body bytes written to HTTP clients for log streams",
      labelNames: ["format"],
      registers,
    });
    this.httpErrors = new Counter({
      name: "tailwire_gateway_http_errors_total",
      help: "Requests answered with an error status, by code",
      labelNames: ["code", "status"],
      registers,
    });
    this.streamErrors = new Counter({
      name: "tailwire_gateway_stream_errors_total",
      help: "Streams that failed after their first byte (an SSE/ndjson error event), by code",
      labelNames: ["code"],
      registers,
    });
    this.resumes = new Counter({
      name: "tailwire_gateway_http_resumes_total",
      help: "Requests that resume a stream (Last-Event-ID or fromSeq)",
      registers,
    });
    // Upstream figures are the client's own counters, read when scraped.
    mirrorCounter(
      registry,
      "tailwire_gateway_upstream_resumes_total",
      "Resume attempts of the gateway's requester over NATS (a broken stream asked again)",
      () => client.stats().resumeAttempts,
    );
    mirrorCounter(
      registry,
      "tailwire_gateway_heartbeat_round_trips_total",
      "Compute-node heartbeats answered by the gateway's requester (each one a round trip)",
      () => client.stats().heartbeatsAnswered,
    );
    new Gauge({
      name: "tailwire_gateway_upstream_open_streams",
      help: "Streams open in the gateway's LogStreamClient",
      registers,
      collect() {
        this.set(client.stats().openStreams);
      },
    });
  }

  sent(format: LogFormat, lines: number, bytes: number): void {
    this.linesSent.inc({ format }, lines);
    this.bytesSent.inc({ format }, bytes);
  }
}

/** A counter that follows a count kept elsewhere (growing only), read when scraped. */
function mirrorCounter(registry: Registry, name: string, help: string, read: () => number): void {
  let seen = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read();
      if (now > seen) this.inc(now - seen);
      seen = now;
    },
  });
}
