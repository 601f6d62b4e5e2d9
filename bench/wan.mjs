// One stream over a constrained link: nats-server and the compute node on the far side of a
// 100 Mbit/s veth pair (tbf each way, wan-link.mjs) in a network namespace of their own, the
// requester (this process) on this side, behind a delaying TCP relay (wan-relay.mjs) that makes
// the round trip ~20 ms or ~100 ms. In the same run: raw NATS publishing the same log-like lines
// batched the same way (as many per message as a 64 KiB data frame holds), tailwire without
// compression and tailwire with the codec the requester and the compute node agree on. Figures
// per path: lines/s, bytes that crossed the link per line, CPU per line of each process.
//
// Raw NATS has no flow control: its nats-server gets a max_pending large enough to hold a whole
// run for the slow link, so the baseline runs at the link's rate instead of being cut off as a
// slow consumer. Skips (does not fail) where namespaces or tbf are not available.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { LogStreamClient } from "@tailwire/requester";
import { findNatsServerBinary, NodeProcess } from "@tailwire/testkit";
import { cpuMsOf, percentile, receiveRaw, round } from "./lib.mjs";
import { WanLink } from "./wan-link.mjs";

export const description =
  "one stream over a 100 Mbit/s link (namespace + veth + tbf) with ~20/100 ms RTT: raw NATS vs tailwire uncompressed vs compressed";

const RATE_MBIT = 100;
const NATS_PORT = 4222;
const producerScript = new URL("./stream-producer.mjs", import.meta.url).pathname;
const relayScript = new URL("./wan-relay.mjs", import.meta.url);

async function startRelay(link, rttMs) {
  const relay = await NodeProcess.start({
    script: relayScript,
    args: [link.farAddress, String(NATS_PORT), String(rttMs / 2)],
    readyLine: "listening",
  });
  const port = Number(relay.stdoutLines.find((l) => l.startsWith("listening")).split(" ")[1]);
  return { relay, url: `nats://127.0.0.1:${port}` };
}

/** Runs `consume` and reports throughput, link bytes and each process's CPU time per line. */
async function measured(setup, count, producerPid, consume) {
  const pids = { producer: producerPid, natsServer: setup.nats.pid, relay: setup.relay.pid };
  const cpu0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMsOf(pid)]));
  const bytes0 = setup.link.bytes();
  const consumer0 = process.cpuUsage();
  const start = performance.now();
  await consume();
  const seconds = (performance.now() - start) / 1000;
  const consumer = process.cpuUsage(consumer0);
  const bytes = setup.link.bytes();
  const usPerLine = (ms) => round((ms * 1000) / count, 3);
  const cpuUsPerLine = Object.fromEntries(
    Object.entries(pids).map(([k, pid]) => [k, usPerLine(cpuMsOf(pid) - cpu0[k])]),
  );
  cpuUsPerLine.consumer = usPerLine((consumer.user + consumer.system) / 1000);
  const linkBytes = bytes.farToNear - bytes0.farToNear;
  return {
    seconds,
    linesPerSecond: count / seconds,
    linkBytesPerLine: linkBytes / count,
    linkMbitPerSecond: (linkBytes * 8) / seconds / 1e6,
    backBytesPerLine: (bytes.nearToFar - bytes0.nearToFar) / count,
    cpuUsPerLine,
  };
}

async function rawNats(setup, count) {
  const nc = await connect({ servers: setup.url, name: "raw-consumer", maxReconnectAttempts: 0 });
  try {
    return await measured(setup, count, setup.rawProducer.pid, async () => {
      await receiveRaw(nc, count);
    });
  } finally {
    await nc.close();
  }
}

async function tailwire(setup, count, compression) {
  const nc = await connect({ servers: setup.url, name: "requester", maxReconnectAttempts: 0 });
  const client = new LogStreamClient({
    connection: nc,
    nodeId: "bench-requester",
    compression: Boolean(compression),
    // Compressed frames are v1's (v2 has none yet): a compressed run speaks v1.
    protocol: compression ? "v1" : "auto",
  });
  try {
    return await measured(setup, count, setup.tailwireProducer.pid, async () => {
      let received = 0;
      let expectedSeq;
      const stream = client.streamLogs({
        nodeId: "bench-compute",
        executionId: "bench",
        tail: count,
      });
      for await (const batch of stream.batches()) {
        for (const entry of batch) {
          if (expectedSeq !== undefined && entry.seq !== expectedSeq)
            throw new Error(`out of order: got ${entry.seq}, expected ${expectedSeq}`);
          expectedSeq = entry.seq + 1;
          received++;
        }
      }
      if (received !== count) throw new Error(`received ${received} of ${count} lines`);
      if (compression && stream.acceptedInfo?.compression === undefined)
        throw new Error("the compressed path ran without compression");
    });
  } finally {
    await client.close();
    await nc.close();
  }
}

/** A path's median round (by throughput). */
const median = (runs) =>
  percentile(
    [...runs].sort((a, b) => a.linesPerSecond - b.linesPerSecond),
    50,
  );

async function measureRtt(url) {
  const nc = await connect({ servers: url, name: "rtt", maxReconnectAttempts: 0 });
  try {
    const samples = [];
    for (let i = 0; i < 5; i++) samples.push(await nc.rtt());
    return round(
      percentile(
        samples.sort((a, b) => a - b),
        50,
      ),
      1,
    );
  } finally {
    await nc.close();
  }
}

export async function run({ quick }) {
  const why = WanLink.unavailable();
  if (why !== undefined) {
    console.log(`wan: skipped, ${why}`);
    return { skipped: why, table: [{ skipped: why }] };
  }
  const count = quick ? 60_000 : 400_000;
  const rounds = quick ? 1 : 2;
  const rtts = quick ? [20] : [20, 100];
  const dir = mkdtempSync(join(tmpdir(), "tw-wan-"));
  const link = WanLink.create({ rateMbit: RATE_MBIT });
  const started = [];
  try {
    const config = join(dir, "nats.conf");
    // Enough pending bytes for a whole raw run (which has no flow control) on the slow link.
    writeFileSync(config, `max_pending: 1073741824\nwrite_deadline: "120s"\n`);
    const nats = await link.spawn(
      findNatsServerBinary(),
      ["-a", "0.0.0.0", "-p", String(NATS_PORT), "-c", config],
      { readyLine: "Server is ready" },
    );
    started.push(nats);
    const farUrl = `nats://127.0.0.1:${NATS_PORT}`;
    const producer = async (mode) => {
      const p = await link.spawn(
        process.execPath,
        [producerScript, farUrl, mode, String(count), "0", "logs"],
        {
          readyLine: "ready",
        },
      );
      started.push(p);
      return p;
    };
    const rawProducer = await producer("raw");
    const tailwireProducer = await producer("tailwire");
    const figures = {};
    const table = [];
    for (const rttMs of rtts) {
      const { relay, url } = await startRelay(link, rttMs);
      try {
        const setup = { link, nats, relay, url, rawProducer, tailwireProducer };
        const measuredRttMs = await measureRtt(url);
        // Warm-up: JIT of both producers and this consumer, at a tenth of the size.
        if (rttMs === rtts[0]) {
          const warm = Math.floor(count / 10);
          await rawNats(setup, warm);
          await tailwire(setup, warm, false);
          await tailwire(setup, warm, true);
        }
        const runs = { raw: [], plain: [], compressed: [] };
        for (let i = 0; i < rounds; i++) {
          runs.raw.push(await rawNats(setup, count));
          runs.plain.push(await tailwire(setup, count, false));
          runs.compressed.push(await tailwire(setup, count, true));
        }
        const raw = median(runs.raw);
        const plain = median(runs.plain);
        const compressed = median(runs.compressed);
        figures[`rtt${rttMs}`] = {
          measuredRttMs,
          raw,
          tailwire: plain,
          tailwireCompressed: compressed,
          ratio: compressed.linesPerSecond / raw.linesPerSecond,
          uncompressedRatio: plain.linesPerSecond / raw.linesPerSecond,
        };
        const row = (path, r) => ({
          rtt: `${rttMs} ms (${measuredRttMs})`,
          path,
          "lines/s": round(r.linesPerSecond),
          "link Mbit/s": round(r.linkMbitPerSecond, 1),
          "link bytes/line": round(r.linkBytesPerLine, 1),
          "CPU µs/line compute": r.cpuUsPerLine.producer,
          "nats-server": r.cpuUsPerLine.natsServer,
          requester: r.cpuUsPerLine.consumer,
          relay: r.cpuUsPerLine.relay,
        });
        const ratioRow = (path, ratio) => ({
          rtt: `${rttMs} ms`,
          path,
          "lines/s": round(ratio, 2),
        });
        table.push(
          row("raw NATS", raw),
          row("tailwire, uncompressed", plain),
          row("tailwire, compressed", compressed),
          ratioRow("tailwire / raw (compressed)", figures[`rtt${rttMs}`].ratio),
          ratioRow("tailwire / raw (uncompressed)", figures[`rtt${rttMs}`].uncompressedRatio),
        );
      } finally {
        await relay.kill("SIGTERM");
      }
    }
    return {
      link: `${RATE_MBIT} Mbit/s each way (tbf, veth pair into a network namespace), delay by a TCP relay`,
      lines: count,
      rounds,
      ...figures,
      table,
    };
  } finally {
    for (const p of started.reverse()) await p.stop();
    link.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
