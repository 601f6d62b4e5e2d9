// A follow survives NATS failures: servers of a 3-node cluster killed under each side in turn,
// and a single server restarted on the same port. A writer appends lines the whole time; the
// consumer must see every line exactly once, in order, and the follow must end with End.
import type { NatsConnection } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import { LogStreamClient } from "@tailwire/requester";
import { NatsCluster, NatsServer } from "@tailwire/testkit";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  type Consumed,
  connectTo,
  consume,
  lineOf,
  nextStatus,
  Writer,
  within,
} from "./harness.js";

const EXECUTION = "follow-1";
/** Long enough that a failover (milliseconds) never looks like a dead compute node. */
const HEARTBEAT_INTERVAL_MS = 1_000;

interface Sides {
  computeNc: NatsConnection;
  requesterNc: NatsConnection;
  writer: Writer;
  client: LogStreamClient;
  server: LogStreamServer;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function startSides(
  computeServers: string[],
  requesterServers: string[],
  heartbeatIntervalMs = HEARTBEAT_INTERVAL_MS,
): Promise<Sides> {
  const computeNc = await connectTo(computeServers, "resume-compute");
  cleanups.push(() => computeNc.close());
  const requesterNc = await connectTo(requesterServers, "resume-requester");
  cleanups.push(() => requesterNc.close());
  const store = new MemoryLogStore({
    maxEntriesPerExecution: 1_000_000,
    maxLogBytes: Number.POSITIVE_INFINITY,
    maxStoreBytes: Number.POSITIVE_INFINITY,
  });
  await store.create(EXECUTION);
  const server = new LogStreamServer({
    connection: computeNc,
    nodeId: "failover-compute",
    source: store,
    heartbeat: { timeoutMs: 500, maxMissed: 3 },
  });
  await server.start();
  cleanups.push(() => server.close());
  const client = new LogStreamClient({
    connection: requesterNc,
    nodeId: "failover-requester",
    heartbeatIntervalMs,
    // A small window: many credit grants in flight, so a lost one would show as a stall.
    windowBytes: 16 * 1024,
  });
  cleanups.push(() => client.close());
  await requesterNc.flush();
  const writer = new Writer(store, EXECUTION, 20, 5);
  cleanups.push(() => writer.stop());
  return { computeNc, requesterNc, writer, client, server };
}

/** Follows the execution, checking every line's content as well as its seq. */
function follow(client: LogStreamClient) {
  let gate: { opened: Promise<void>; open: () => void } | undefined;
  const stream = client.streamLogs({
    nodeId: "failover-compute",
    executionId: EXECUTION,
    follow: true,
  });
  const progress = { consumed: 0, wrongLines: 0 };
  const done = consume(stream, {
    onEntry: (entry, count) => {
      progress.consumed = count;
      if (entry.line !== lineOf(entry.seq)) progress.wrongLines++;
      return gate?.opened;
    },
  });
  /** Stops the consumer (after the entry it holds) until the returned function is called. */
  const pause = (): (() => void) => {
    let open = () => {};
    const opened = new Promise<void>((resolve) => {
      open = resolve;
    });
    gate = { opened, open };
    return () => {
      gate = undefined;
      open();
    };
  };
  /** Waits until `more` further lines were consumed (the follow is flowing again). */
  const flowing = async (more: number) => {
    const target = progress.consumed + more;
    await vi.waitFor(() => expect(progress.consumed).toBeGreaterThanOrEqual(target), {
      timeout: 15_000,
      interval: 20,
    });
  };
  return { stream, progress, done, flowing, pause };
}

function expectEveryLineOnce(result: Consumed, written: number, wrongLines: number): void {
  expect(result.error).toBeUndefined();
  expect(result.violations).toEqual([]);
  expect(result.count).toBe(written);
  expect(result.lastSeq).toBe(written);
  expect(wrongLines).toBe(0);
}

describe("resume across NATS failures", () => {
  it("3-node cluster: the compute side's server dies, then the requester side's; the follow goes on, every line once and in order", async () => {
    const cluster = await NatsCluster.start({ size: 3 });
    cleanups.push(() => cluster.stop());
    const [u0, u1, u2] = cluster.urls as [string, string, string];
    // Compute on server 0, requester on server 1; both fail over to server 2.
    const sides = await startSides([u0, u2, u1], [u1, u2, u0]);
    const { stream, progress, done, flowing } = follow(sides.client);
    await stream.accepted;
    await flowing(500);

    const computeBack = nextStatus(sides.computeNc, "reconnect");
    await cluster.kill(0);
    await within(computeBack, 10_000, "the compute node to reconnect");
    await flowing(1_000);
    const afterFirst = stream.attempts;

    const requesterBack = nextStatus(sides.requesterNc, "reconnect");
    await cluster.kill(1);
    await within(requesterBack, 10_000, "the requester to reconnect");
    await flowing(1_000);
    // The requester's own reconnect always resumes (frames and grants may have been lost).
    expect(stream.attempts).toBeGreaterThan(afterFirst);

    const written = await sides.writer.stop();
    const result = await within(done, 20_000, "the follow to end after the writer completed");
    expectEveryLineOnce(result, written, progress.wrongLines);
    expect(stream.endCause).toBe("completed");
    expect(stream.exitCode).toBe(0);
    expect(sides.client.stats().resumesExhausted).toBe(0);
    console.log(
      `cluster failover: ${written} lines, ${stream.attempts} attempts, ${sides.client.stats().resumeAttempts} resumes`,
    );
  }, 60_000);

  it("credit granted while the compute node is cut off is lost; its reconnect ends the stream and the requester resumes instead of stalling", async () => {
    const cluster = await NatsCluster.start({ size: 3 });
    cleanups.push(() => cluster.stop());
    const [u0, u1] = cluster.urls as [string, string, string];
    // The compute node knows only server 0, so it is cut off until that server is back.
    // A long interval: the outage must not look like a dead compute node.
    const sides = await startSides([u0], [u1], 2_000);
    const { stream, progress, done, flowing, pause } = follow(sides.client);
    await stream.accepted;
    await flowing(500);
    // The consumer stops: the compute node fills the window and waits for credit (the writer
    // adds far more than a window meanwhile).
    const resumeConsumer = pause();
    await sides.writer.until(sides.writer.written + 1_000);
    const computeBack = nextStatus(sides.computeNc, "reconnect");
    await cluster.kill(0);
    // Now the consumer takes what was buffered; its grants find no subscriber and are lost.
    const grants = sides.client.stats().creditsSent;
    resumeConsumer();
    await vi.waitFor(() => expect(sides.client.stats().creditsSent).toBeGreaterThan(grants), {
      timeout: 10_000,
      interval: 20,
    });
    await cluster.restart(0);
    await within(computeBack, 10_000, "the compute node to reconnect");
    await flowing(1_000);
    expect(stream.attempts).toBeGreaterThanOrEqual(2);
    const written = await sides.writer.stop();
    const result = await within(done, 20_000, "the follow to end after the writer completed");
    expectEveryLineOnce(result, written, progress.wrongLines);
  }, 60_000);

  it("single server restarted on the same port: once both sides reconnect the follow goes on, every line once and in order", async () => {
    const server = await NatsServer.start();
    cleanups.push(() => server.stop());
    const sides = await startSides([server.url], [server.url]);
    const { stream, progress, done, flowing } = follow(sides.client);
    await stream.accepted;
    await flowing(500);

    const back = [
      nextStatus(sides.computeNc, "reconnect"),
      nextStatus(sides.requesterNc, "reconnect"),
    ];
    await server.kill();
    await server.restart();
    await within(Promise.all(back), 15_000, "both sides to reconnect");
    await flowing(1_000);
    expect(stream.attempts).toBeGreaterThanOrEqual(2);

    const written = await sides.writer.stop();
    const result = await within(done, 20_000, "the follow to end after the writer completed");
    expectEveryLineOnce(result, written, progress.wrongLines);
    expect(stream.endCause).toBe("completed");
    console.log(
      `server restart: ${written} lines, ${stream.attempts} attempts, ${sides.client.stats().resumeAttempts} resumes`,
    );
  }, 60_000);
});
