// Execution lookup at fleet scale (issue 18): one requester (this process) and N compute nodes
// (bench/locate-fleet-worker.mjs), every execution held by exactly one node. Measured: the time
// of a lookup (found, and not found), the messages the NATS server handled for it (from /varz),
// the CPU it cost this requester and the whole fleet; at 2,000 nodes and at a tenth of that, so
// the cost is seen not to grow with the nodes that do not hold the execution. Then a job's logs:
// 10 executions on 10 nodes read as one streamJobLogs, against the same 10 read as 10
// concurrent streamLogs, in the same run.
import { LogStreamClient, NatsExecutionLocator } from "@tailwire/requester";
import { NodeProcess } from "@tailwire/testkit";
import { connectTo, percentile, round, withServer } from "./lib.mjs";

export const description =
  "execution lookup against N compute nodes (found / not found: time, NATS messages, CPU) and a job's logs (10 executions) against 10 single streams";

const WORKER = new URL("./locate-fleet-worker.mjs", import.meta.url);

let tags = 0;
async function fleetCpu(fleet) {
  const tag = `c${++tags}`;
  fleet.stdin.write(`cpu ${tag}\n`);
  const line = await fleet.waitForLine(`{"ev":"cpu","id":"${tag}"`, 10_000);
  return JSON.parse(line).cpuMs;
}

async function varz(server) {
  const v = await server.monitor("varz");
  return { inMsgs: Number(v.in_msgs), outMsgs: Number(v.out_msgs) };
}

async function lookups(server, fleet, locator, ids) {
  const times = [];
  const before = await varz(server);
  const fleetBefore = await fleetCpu(fleet);
  const cpuBefore = process.cpuUsage();
  let found = 0;
  for (const id of ids) {
    const t0 = performance.now();
    const result = await locator.locateExecution(id);
    times.push(performance.now() - t0);
    if (result.length === 1) found++;
  }
  const cpu = process.cpuUsage(cpuBefore);
  const fleetAfter = await fleetCpu(fleet);
  const after = await varz(server);
  times.sort((a, b) => a - b);
  const n = ids.length;
  return {
    lookups: n,
    found,
    p50Ms: round(percentile(times, 50), 2),
    p99Ms: round(percentile(times, 99), 2),
    // The server's counters include the two /varz reads' own connection traffic: none (HTTP).
    natsMessagesInPerLookup: round((after.inMsgs - before.inMsgs) / n, 2),
    natsMessagesOutPerLookup: round((after.outMsgs - before.outMsgs) / n, 2),
    requesterCpuUsPerLookup: round((cpu.user + cpu.system) / n, 1),
    fleetCpuUsPerLookup: round(((fleetAfter - fleetBefore) * 1000) / n, 1),
  };
}

async function drain(stream) {
  let lines = 0;
  for await (const item of stream) if (item.type === undefined || item.type === "entry") lines++;
  return lines;
}

async function fleetRun(server, nodes, quick) {
  const jobLines = quick ? 20_000 : 100_000;
  const fleet = await NodeProcess.start({
    script: WORKER,
    args: [
      JSON.stringify({
        url: server.url,
        nodes,
        perNode: 5,
        jobNodes: 10,
        jobLines,
        lineBytes: 100,
      }),
    ],
    readyLine: '{"ev":"ready"',
    readyTimeoutMs: 120_000,
  });
  const nc = await connectTo(server, "requester");
  try {
    const locator = new NatsExecutionLocator({
      connection: nc,
      requesterNodeId: "locate-bench",
      cacheTtlMs: 0,
      gatherMs: 0,
    });
    const count = quick ? 50 : 300;
    // Warm-up: the first lookups pay for subscriptions and JIT.
    await lookups(
      server,
      fleet,
      locator,
      Array.from({ length: 20 }, (_, i) => `loc-${i % nodes}-0`),
    );
    const foundIds = Array.from({ length: count }, (_, i) => `loc-${(i * 7919) % nodes}-${i % 5}`);
    const found = await lookups(server, fleet, locator, foundIds);
    const missing = await lookups(
      server,
      fleet,
      locator,
      Array.from({ length: count }, (_, i) => `nowhere-${i}`),
    );
    locator.close();

    const client = new LogStreamClient({ connection: nc, nodeId: "locate-bench-reader" });
    const jobIds = Array.from({ length: 10 }, (_, i) => `job-${i}`);
    const rounds = quick ? 1 : 3;
    const job = [];
    const singles = [];
    for (let r = 0; r < rounds; r++) {
      let t0 = performance.now();
      const viaJob = await drain(client.streamJobLogs({ jobId: "bench-job" }));
      job.push((viaJob / (performance.now() - t0)) * 1000);
      t0 = performance.now();
      const counts = await Promise.all(
        jobIds.map((executionId, i) =>
          drain(client.streamLogs({ computeNodeId: `loc-node-${i}`, executionId })),
        ),
      );
      singles.push((counts.reduce((a, b) => a + b, 0) / (performance.now() - t0)) * 1000);
    }
    await client.close();
    job.sort((a, b) => a - b);
    singles.sort((a, b) => a - b);
    const jobMedian = percentile(job, 50);
    const singlesMedian = percentile(singles, 50);
    return {
      nodes,
      found,
      notFound: missing,
      jobLogs: {
        executions: 10,
        linesEach: jobLines,
        streamJobLogsLinesPerSecond: round(jobMedian),
        tenStreamLogsLinesPerSecond: round(singlesMedian),
        ratio: round(jobMedian / singlesMedian, 2),
      },
    };
  } finally {
    await nc.close();
    fleet.stdin.write("close\n");
    await fleet.waitForExit(30_000).catch(() => fleet.kill("SIGKILL"));
  }
}

export async function run({ quick }) {
  const sizes = quick ? [20, 200] : [200, 2000];
  const runs = [];
  for (const nodes of sizes)
    runs.push(await withServer((server) => fleetRun(server, nodes, quick)));
  for (const r of runs) {
    console.log(
      `[locate] ${r.nodes} nodes: found p50 ${r.found.p50Ms} ms p99 ${r.found.p99Ms} ms, ` +
        `${r.found.natsMessagesInPerLookup} in / ${r.found.natsMessagesOutPerLookup} out NATS msgs, ` +
        `requester ${r.found.requesterCpuUsPerLookup} µs, fleet ${r.found.fleetCpuUsPerLookup} µs CPU per lookup; ` +
        `not found p50 ${r.notFound.p50Ms} ms (${r.notFound.natsMessagesOutPerLookup} out msgs); ` +
        `job ${r.jobLogs.streamJobLogsLinesPerSecond} lines/s vs 10 streams ${r.jobLogs.tenStreamLogsLinesPerSecond} (ratio ${r.jobLogs.ratio})`,
    );
  }
  return { runs };
}
