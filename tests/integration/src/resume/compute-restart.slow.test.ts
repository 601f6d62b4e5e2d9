// The compute node itself dies mid-follow (SIGKILL of its process) and comes back on the same
// FileLogStore directory. With resumeAfterComputeLost the follow continues from where it stopped,
// without loss or duplicate; without it, the stream ends with ComputeNodeLostError at once.
// A writer in this process appends to the same directory the whole time (FileLogStore is
// written by one process and read by others).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { FileLogStore } from "@tailwire/compute";
import { ComputeNodeLostError, LogStreamClient } from "@tailwire/requester";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  type ComputeConfig,
  ComputeProcess,
  connectTo,
  consume,
  lineOf,
  Writer,
  within,
} from "./harness.js";

const HEARTBEAT_INTERVAL_MS = 300;

describe("compute node restart on a persistent store", () => {
  let server: NatsServer;
  const cleanups: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    server = await NatsServer.start();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });
  afterAll(() => server.stop());

  async function setup(name: string, resumeAfterComputeLost: { forMs: number } | false) {
    const dir = await mkdtemp(join(tmpdir(), "tailwire-resume-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const store = new FileLogStore({ dir });
    cleanups.push(() => store.close());
    await store.create(name);
    const config: ComputeConfig = {
      urls: [server.url],
      nodeId: `${name}-compute`,
      store: "file",
      dir,
      pollIntervalMs: 20,
    };
    let compute = await ComputeProcess.start(config);
    cleanups.push(() => compute.proc.kill("SIGKILL"));
    const nc: NatsConnection = await connectTo([server.url], `${name}-requester`);
    cleanups.push(() => nc.close());
    const client = new LogStreamClient({
      connection: nc,
      nodeId: `${name}-requester`,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
      resumeAfterComputeLost,
    });
    cleanups.push(() => client.close());
    const writer = new Writer(store, name, 5, 5);
    cleanups.push(() => writer.stop());
    const stream = client.streamLogs({ nodeId: config.nodeId, executionId: name, follow: true });
    const progress = { consumed: 0, wrongLines: 0 };
    const done = consume(stream, {
      onEntry: (entry, count) => {
        progress.consumed = count;
        if (entry.line !== lineOf(entry.seq)) progress.wrongLines++;
      },
    });
    const flowing = async (more: number) => {
      const target = progress.consumed + more;
      await vi.waitFor(() => expect(progress.consumed).toBeGreaterThanOrEqual(target), {
        timeout: 20_000,
        interval: 20,
      });
    };
    const restart = async () => {
      compute = await ComputeProcess.start(config);
    };
    return { compute: () => compute, restart, client, writer, stream, progress, done, flowing };
  }

  it("resumeAfterComputeLost: SIGKILL mid-follow, restart on the same dir: the follow continues, every line once, in order", async () => {
    const t = await setup("restart", { forMs: 20_000 });
    await t.stream.accepted;
    await t.flowing(300);
    await t.compute().proc.kill("SIGKILL");
    const killedAt = t.progress.consumed;
    // Declared lost within computeLostAfterMissed × interval, then retried (no responders).
    await vi.waitFor(() => expect(t.client.stats().resumeAttempts).toBeGreaterThanOrEqual(2), {
      timeout: 10_000,
      interval: 20,
    });
    expect(t.stream.endCause).toBeUndefined();
    await t.restart();
    await t.flowing(300);
    expect(t.progress.consumed).toBeGreaterThan(killedAt);
    const written = await t.writer.stop();
    const result = await within(t.done, 20_000, "the follow to end after the writer completed");
    expect(result.error).toBeUndefined();
    expect(result.violations).toEqual([]);
    expect(result.count).toBe(written);
    expect(t.progress.wrongLines).toBe(0);
    expect(t.stream.endCause).toBe("completed");
    expect(t.stream.exitCode).toBe(0);
    console.log(
      `compute restart: ${written} lines, ${t.stream.attempts} attempts, ${t.client.stats().resumeAttempts} resumes`,
    );
  }, 60_000);

  it("by default a dead compute node ends the stream with ComputeNodeLostError (no resume)", async () => {
    const t = await setup("noresume", false);
    await t.stream.accepted;
    await t.flowing(100);
    await t.compute().proc.kill("SIGKILL");
    const result = await within(t.done, 10_000, "the stream to fail");
    expect(result.error).toBeInstanceOf(ComputeNodeLostError);
    expect(result.violations).toEqual([]);
    expect(t.stream.lastSeq).toBe(result.lastSeq);
    expect(t.stream.attempts).toBe(1);
  }, 30_000);
});
