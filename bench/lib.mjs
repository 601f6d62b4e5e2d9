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

const PADDING = "x".repeat(4096);

/**
 * A log line of exactly `bytes` ASCII characters, different for each i. Flat, like a line cut
 * from a read buffer (a concatenation would be a rope, which every serialiser must flatten).
 */
export function makeLine(i, bytes) {
  const head = `line ${i} `;
  return Buffer.from(head + PADDING.slice(0, Math.max(0, bytes - head.length)), "latin1").toString(
    "latin1",
  );
}
