// Shared pieces of the benchmarks: a server, connections, timing and figures.
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "@tailwire/testkit";

export async function withServer(fn, options = {}) {
  const server = await NatsServer.start(options);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

export function connectTo(server, name) {
  return connect({ servers: server.url, name, maxReconnectAttempts: 0 });
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

export const round = (value, digits = 0) => Number(value.toFixed(digits));

/** A log line of exactly `bytes` ASCII characters, different for each i. */
export function makeLine(i, bytes) {
  const head = `line ${i} `;
  return head + "x".repeat(Math.max(0, bytes - head.length));
}
