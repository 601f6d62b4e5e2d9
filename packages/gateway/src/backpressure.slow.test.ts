// Backpressure end to end over real sockets: an HTTP client that does not read makes the compute
// node stop at the window (plus what the socket took), and catches up exactly once it reads;
// a client that disconnects cancels its upstream stream at once.
import { connect as connectTcp, type Socket } from "node:net";
import { pollUntil } from "@tailwire/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Rig } from "./test-helpers/rig.js";

let rig: Rig;
beforeAll(async () => {
  rig = await Rig.start();
});
afterEach(async () => rig.cleanup());
afterAll(async () => rig?.stop());

/** A raw HTTP/1.1 GET whose response is read only when the test says so. */
function rawGet(url: string): Socket {
  const { hostname, port, pathname, search } = new URL(url);
  const socket = connectTcp(Number(port), hostname);
  socket.write(
    `GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: application/x-ndjson\r\n\r\n`,
  );
  return socket;
}

/** Samples `value` until it stops changing for `stableMs`, within `timeoutMs`. */
async function plateau(value: () => number, stableMs: number, timeoutMs: number): Promise<number> {
  let last = value();
  let since = Date.now();
  return pollUntil(
    () => {
      const now = value();
      if (now !== last) {
        last = now;
        since = Date.now();
        return undefined;
      }
      return Date.now() - since >= stableMs ? now : undefined;
    },
    { timeoutMs, intervalMs: 50, what: "a plateau" },
  );
}

describe("backpressure", () => {
  it("a client that does not read makes the compute node wait; reading again delivers every line once", async () => {
    const LINES = 100_000;
    const compute = await rig.compute();
    const pad = "p".repeat(90);
    for (let i = 1; i <= LINES; i++) void compute.store.append("big", "stdout", `${i} ${pad}`);
    await compute.store.complete("big", 0);
    // At least twice the compute node's largest frame (64 KiB): see the README's note on
    // small windows.
    const windowBytes = 256 * 1024;
    // Plain frames: the compute node's bytes sent are then the lines' own (compressed, the
    // window would hold about five times as many lines; the bound is the same in wire bytes).
    // A fixed window, as `tailwire gateway` keeps it: a window grown while the client read fast
    // stays granted until the client reads again.
    const { url, gateway } = await rig.gateway({
      clientOptions: { windowBytes, maxWindowBytes: windowBytes, compression: false },
    });
    const linesWritten = async () =>
      (await gateway.metrics.linesSent.get()).values.reduce((sum, v) => sum + v.value, 0);

    const socket = rawGet(`${url}/v1/executions/big/logs?node=${compute.nodeId}`);
    socket.pause();
    const backlogBytes = LINES * (pad.length + 8);
    const sent = await plateau(() => compute.server.stats().bytesSent, 500, 15_000);
    const written = await linesWritten();
    // Stopped short of the backlog: the window, plus what the socket (kernel buffers) took.
    expect(sent).toBeGreaterThan(windowBytes / 2);
    expect(sent).toBeLessThan(backlogBytes / 2);

    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      text += chunk;
    });
    socket.resume();
    await pollUntil(() => (text.includes('{"end":') ? true : undefined), {
      timeoutMs: 20_000,
      what: "the whole log",
    });
    socket.destroy();
    const body = text.slice(text.indexOf("\r\n\r\n") + 4);
    // Chunked encoding: keep only the JSON lines.
    const seqs = body
      .split(/\r?\n/)
      .filter((l) => l.startsWith('{"seq"'))
      .map((l) => JSON.parse(l).seq as number);
    expect(seqs.length).toBe(LINES);
    expect(seqs.every((s, i) => s === i + 1)).toBe(true);
    const total = compute.server.stats().bytesSent;
    expect(total).toBeGreaterThan(backlogBytes);
    // What the gateway held while the client did not read: sent upstream but not yet written to
    // the socket. Bounded by the window and one frame (64 KiB), whatever the backlog.
    const held = sent - written * (total / LINES);
    console.log(
      `slow client: compute node stopped at ${sent} of ${total} bytes; gateway held ~${Math.round(held)}`,
    );
    expect(held).toBeLessThan(windowBytes + 64 * 1024);
  });

  it("a client that disconnects cancels its upstream stream within a round trip", async () => {
    const compute = await rig.compute();
    await compute.store.append("follow", "stdout", "first");
    const { url, client } = await rig.gateway();
    const socket = rawGet(`${url}/v1/executions/follow/logs?node=${compute.nodeId}&follow=true`);
    await new Promise<void>((resolve) => {
      let seen = "";
      socket.on("data", (chunk) => {
        seen += chunk.toString();
        if (seen.includes('"line":"first"')) resolve();
      });
    });
    expect(compute.server.stats().openStreams).toBe(1);
    const closedAt = Date.now();
    socket.destroy();
    await pollUntil(
      () => (compute.server.stats().streamsEnded.cancelled === 1 ? true : undefined),
      {
        timeoutMs: 2_000,
        intervalMs: 5,
        what: "the compute node to see the cancel",
      },
    );
    const elapsed = Date.now() - closedAt;
    // One control message and its handling: far below a heartbeat interval (5 s).
    expect(elapsed).toBeLessThan(500);
    expect(compute.server.stats().openStreams).toBe(0);
    expect(client.stats().openStreams).toBe(0);
    const health = await (await fetch(`${url}/healthz`)).json();
    expect(health.streams).toBe(0);
  });
});
