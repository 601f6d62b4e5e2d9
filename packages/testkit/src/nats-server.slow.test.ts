import { existsSync } from "node:fs";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ProcessStartError } from "./errors.js";
import { NatsServer } from "./nats-server.js";
import { collect, recordStatus } from "./test-helpers/nats.js";
import { processExists, processState } from "./test-helpers/process.js";

// Everything opened in a test is closed afterwards, even when an assertion failed midway.
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function startServer(options?: Parameters<typeof NatsServer.start>[0]) {
  const server = await NatsServer.start(options);
  cleanups.push(() => server.stop());
  return server;
}

async function client(url: string, options: Parameters<typeof connect>[0] = {}) {
  const nc: NatsConnection = await connect({ servers: url, ...options });
  cleanups.push(() => nc.close());
  return nc;
}

describe("NatsServer", () => {
  it("starts on a free loopback port and routes a message", async () => {
    const server = await startServer();
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    expect(server.port).toBeGreaterThan(0);
    expect(processExists(server.pid)).toBe(true);

    const varz = await server.monitor<{ host: string; port: number }>("varz");
    expect(varz).toMatchObject({ host: "127.0.0.1", port: server.port });

    const nc = await client(server.url);
    const received = collect(nc, "greet");
    await nc.flush();
    nc.publish("greet", "hello");
    await vi.waitFor(() => expect(received).toEqual(["hello"]));
    expect(server.logTail()).toContain("Server is ready");
  });

  it("renders config: max_payload reaches the client, authorization is enforced", async () => {
    const server = await startServer({
      config: {
        max_payload: 2048,
        authorization: { users: [{ user: "alice", password: "s3cret" }] },
      },
    });
    await expect(connect({ servers: server.url, reconnect: false })).rejects.toThrow(
      /authorization/i,
    );
    const nc = await client(server.url, { user: "alice", pass: "s3cret" });
    expect(nc.info?.max_payload).toBe(2048);
  });

  it("supports accounts: subjects are isolated between accounts", async () => {
    const server = await startServer({
      config: {
        accounts: {
          A: { users: [{ user: "a", password: "a" }] },
          B: { users: [{ user: "b", password: "b" }] },
        },
      },
    });
    const a1 = await client(server.url, { user: "a", pass: "a" });
    const a2 = await client(server.url, { user: "a", pass: "a" });
    const b = await client(server.url, { user: "b", pass: "b" });
    const inA = collect(a2, "x");
    const inB = collect(b, "x");
    await Promise.all([a2.flush(), b.flush()]);
    a1.publish("x", "for-a");
    await a1.flush();
    await vi.waitFor(() => expect(inA).toEqual(["for-a"]));
    // b's subscription is registered (flushed) before the publish, so it would have
    // been delivered by now; a round trip on b proves nothing is still in flight.
    await b.flush();
    expect(inB).toEqual([]);
  });

  it("enables JetStream with a private store dir", async () => {
    const server = await startServer({ jetstream: true });
    const nc = await client(server.url);
    const info = (await nc.request("$JS.API.INFO", "", { timeout: 2_000 })).json<{
      type: string;
    }>();
    expect(info.type).toBe("io.nats.jetstream.api.v1.account_info_response");
  });

  it("stop() ends the process and removes its temp dir", async () => {
    const server = await NatsServer.start();
    const { pid, dir } = server;
    expect(existsSync(dir)).toBe(true);
    await server.stop();
    expect(processExists(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect(server.running).toBe(false);
    await server.stop(); // idempotent
  });

  it("works with await using", async () => {
    let pid = 0;
    {
      await using server = await NatsServer.start();
      pid = server.pid;
      expect(processExists(pid)).toBe(true);
    }
    expect(processExists(pid)).toBe(false);
  });

  it("rejects quickly with the log tail when the server exits during start", async () => {
    const first = await startServer();
    const started = Date.now();
    const error = await NatsServer.start({ port: first.port }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ProcessStartError);
    expect((error as ProcessStartError).output).toMatch(/address already in use/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("restarts on the same port and a reconnecting client carries on", async () => {
    const server = await startServer();
    const { port, pid: firstPid } = server;
    const nc = await client(server.url, {
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 50,
    });
    const events = recordStatus(nc);
    const received = collect(nc, "after");

    await server.restart();
    expect(server.port).toBe(port);
    expect(server.pid).not.toBe(firstPid);
    expect(processExists(firstPid)).toBe(false);

    await vi.waitFor(() => expect(events.map((e) => e.type)).toContain("reconnect"), {
      timeout: 10_000,
    });
    // The client re-subscribes on reconnect; flush makes sure the server has it.
    await nc.flush();
    nc.publish("after", "again");
    await vi.waitFor(() => expect(received).toEqual(["again"]));
    expect(server.logTail()).toContain(`restarting on port ${port}`);
  });

  it("restart() also brings back a killed server", async () => {
    const server = await startServer();
    await server.kill();
    expect(server.running).toBe(false);
    await server.restart();
    const nc = await client(server.url);
    expect(nc.info?.port).toBe(server.port);
  });

  it("kill() SIGKILLs: the pid is gone and clients see a disconnect", async () => {
    const server = await startServer();
    const pid = server.pid;
    const nc = await client(server.url, { reconnect: true, reconnectTimeWait: 50 });
    const events = recordStatus(nc);

    await server.kill();
    expect(processExists(pid)).toBe(false);
    expect(server.running).toBe(false);
    await vi.waitFor(() => expect(events.map((e) => e.type)).toContain("disconnect"));
  });

  it("freeze() stops answering until thaw()", async () => {
    const server = await startServer();
    const responder = await client(server.url);
    responder.subscribe("echo", {
      callback: (_err, msg) => {
        msg.respond(msg.data);
      },
    });
    await responder.flush();
    const requester = await client(server.url, { pingInterval: 60_000 });
    expect((await requester.request("echo", "warm", { timeout: 2_000 })).string()).toBe("warm");

    server.freeze();
    expect(server.frozen).toBe(true);
    await vi.waitFor(() => expect(processState(server.pid)).toBe("T"));
    await expect(requester.request("echo", "frozen", { timeout: 300 })).rejects.toThrow(/timeout/i);

    server.thaw();
    expect(server.frozen).toBe(false);
    expect((await requester.request("echo", "thawed", { timeout: 2_000 })).string()).toBe("thawed");
  });

  it("stop() also ends a frozen server", async () => {
    const server = await NatsServer.start();
    server.freeze();
    const pid = server.pid;
    await server.stop(2_000);
    expect(processExists(pid)).toBe(false);
  });
});
