// The runner must catch broken implementations: a compute node that overruns credit and
// misnumbers frames, and a requester that never grants credit. Both get FAIL and exit code 1.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { decodeFrame, encode, MessageType, newStreamId, subjects } from "@tailwire/protocol";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ConformanceReport,
  main,
  REQUESTER_EXECUTIONS,
  runRequesterConformance,
} from "./index.js";
import { startFaultyCompute } from "./test-helpers/faulty-compute.js";

let nats: NatsServer;
let nc: NatsConnection;
beforeAll(async () => {
  nats = await NatsServer.start();
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

describe("the runner catches broken implementations", () => {
  it("a compute node that overruns credit and skips a frame number: FAIL, exit code 1", async () => {
    const sub = startFaultyCompute(nc, "faulty-node");
    await nc.flush();
    const lines: string[] = [];
    const dir = mkdtempSync(join(tmpdir(), "conformance-"));
    const jsonFile = join(dir, "report.json");
    const code = await main(
      [
        "compute",
        "--node-id",
        "faulty-node",
        "--nats",
        nats.url,
        "--only",
        "reads",
        "--windows",
        "4096",
        "--json",
        jsonFile,
      ],
      (line) => lines.push(line),
    );
    const json = JSON.parse(readFileSync(jsonFile, "utf8")) as ConformanceReport;
    rmSync(dir, { recursive: true, force: true });
    expect(json.ok).toBe(false);
    expect(json.results.find((r) => r.id === "C-CREDIT-BOUND")?.outcome).toBe("FAIL");
    sub.unsubscribe();
    const output = lines.join("\n");
    expect(code).toBe(1);
    expect(output).toMatch(
      /^FAIL C-CREDIT-BOUND \[Flow control\] — conformance-credit window 4096/m,
    );
    expect(output).toMatch(/^FAIL C-FRAME-NUMBERS \[Ordering and gaps\] — .*has n 3, expected 2/m);
    expect(output).toMatch(/^FAIL C-MAX-FRAME-HALF-WINDOW /m);
    // What the faulty node does right still passes, and scenarios not run are N/A.
    expect(output).toMatch(/^PASS C-END /m);
    expect(output).toMatch(/^N\/A C-CANCEL \[Cancel\] — not run/m);
    expect(output).toMatch(/^NOT CONFORMANT: /m);
  }, 30_000);

  it("a requester that never grants credit: FAIL R-CREDIT", async () => {
    const run = runRequesterConformance({
      connection: nc,
      nodeId: "played-node-2",
      executions: [REQUESTER_EXECUTIONS.credit],
      timeoutMs: 10_000,
    });
    await nc.flush();
    // A requester that asks, takes the frames and never grants.
    const requesterId = "stingy-requester";
    const streamId = newStreamId();
    const frames: string[] = [];
    const sub = nc.subscribe(subjects.streamInboxWildcard(requesterId), {
      callback: (_e, msg) => {
        frames.push(decodeFrame(msg.data).type);
      },
    });
    const hb = nc.subscribe(subjects.heartbeat(requesterId), {
      callback: (_e, msg) => {
        msg.respond(
          encode({
            type: MessageType.HeartbeatResponse,
            requesterNodeId: requesterId,
            unknownStreamIds: [],
          }),
        );
      },
    });
    await nc.flush();
    nc.publish(
      subjects.request("played-node-2"),
      encode({
        type: MessageType.Request,
        sourcePeerId: requesterId,
        targetPeerId: "played-node-2",
        executionId: REQUESTER_EXECUTIONS.credit,
        streamId,
        follow: false,
        heartbeatSubject: subjects.heartbeat(requesterId),
        heartbeatIntervalMs: 1000,
        window: 4096,
      }),
      { reply: subjects.streamInbox(requesterId, streamId) },
    );
    const report = await run;
    sub.unsubscribe();
    hb.unsubscribe();
    expect(frames[0]).toBe(MessageType.Accepted);
    const credit = report.results.find((r) => r.id === "R-CREDIT");
    expect(credit?.outcome).toBe("FAIL");
    expect(credit?.detail).toMatch(/stalled for 3000 ms: \d+ bytes sent, window 4096 \+ 0 granted/);
    expect(report.ok).toBe(false);
  }, 30_000);
});
