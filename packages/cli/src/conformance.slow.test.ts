/**
 * The conformance kit run through the built `tailwire` CLI against the CLI's own nodes, as real
 * processes: `tailwire conformance compute` against `tailwire compute` serving seeded files, and
 * `tailwire conformance requester` playing the compute node that `tailwire logs` reads from.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REQUESTER_EXECUTIONS, readSeed } from "@tailwire/conformance";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EXPECTED_COMPUTE_FAILURES,
  EXPECTED_REQUESTER_FAILURES,
  expectedAmong,
} from "../../conformance/src/test-helpers/expected-failures.js";
import { CliProcesses } from "./test-helpers/cli-processes.js";

let nats: NatsServer;
let dir: string;
const cli = new CliProcesses();

beforeAll(async () => {
  nats = await NatsServer.start();
  dir = await mkdtemp(join(tmpdir(), "tailwire-conformance-"));
});
afterAll(async () => {
  await cli.stopAll();
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const start = (args: string[], readyLine?: string) =>
  cli.start(args, readyLine === undefined ? {} : { readyLine });
const run = (args: string[], timeoutMs?: number) => cli.run(args, timeoutMs);

/** The rule ids a report printed as FAIL. */
const failedRules = (lines: string[]) =>
  lines.filter((l) => l.startsWith("FAIL ")).map((l) => l.split(" ")[1]!);

describe("tailwire conformance", () => {
  it("compute: `tailwire compute` on seeded files passes every rule it already meets", async () => {
    const data = join(dir, "node");
    const seeded = await run(["conformance", "seed", "--data-dir", data]);
    expect(seeded.code).toBe(0);
    expect(seeded.stdout).toContain("seeded conformance-long-line (3 lines, exit code 0)");
    const node = "cli-node";
    await start(
      [
        "compute",
        "--node-id",
        node,
        "--data-dir",
        data,
        "--nats",
        nats.url,
        "--log-level",
        "info",
        ...["--max-streams", "16", "--max-streams-per-requester", "8"],
        ...["--max-tail-lines", "1000", "--max-requests-per-second", "50"],
        ...["--max-node-requests-per-second", "200"],
        ...["--heartbeat-max-missed", "2"],
      ],
      `compute node ${node} ready`,
    );
    const report = await run(["conformance", "compute", "--node-id", node, "--nats", nats.url]);
    expect(report.stdout.at(-1)).toMatch(/passed, \d+ failed/);
    expect(failedRules(report.stdout).sort()).toEqual([...EXPECTED_COMPUTE_FAILURES].sort());
    expect(report.code).toBe(EXPECTED_COMPUTE_FAILURES.length === 0 ? 0 : 1);
  }, 90_000);

  it("requester: `tailwire logs` reading from the kit's compute node", async () => {
    const X = REQUESTER_EXECUTIONS;
    const executions = [X.basic, X.longLine, X.gap];
    const runner = await start(
      [
        ...["conformance", "requester", "--node-id", "kit-node", "--nats", nats.url],
        ...["--executions", executions.join(","), "--timeout-ms", "30000"],
      ],
      "# serving conformance-credit",
    );
    // A short heartbeat interval, as a test or a latency-sensitive user would set it.
    const read = (executionId: string) =>
      run(
        [
          ...["logs", executionId, "--node", "kit-node", "--nats", nats.url],
          ...["--heartbeat-interval-ms", "200"],
        ],
        30_000,
      );
    const [basic, long, gap] = await Promise.all(executions.map(read));
    const lines = (name: "basic" | "long-line") =>
      readSeed(name)
        .entries.filter((e) => e.stream === "stdout")
        .flatMap((e) => e.line.split("\n"));
    // stdout lines on stdout (an entry holding a newline prints as two lines).
    expect(basic!.stdout).toEqual(lines("basic"));
    expect(long!.stdout).toEqual(lines("long-line"));
    expect(gap!.stdout).toEqual(lines("basic"));
    const status = await runner.waitForExit(30_000);
    const out = runner.stdoutLines;
    expect(out.at(-1)).toMatch(/passed, \d+ failed/);
    expect(out.find((l) => l.startsWith("PASS R-GAP "))).toBeDefined();
    const notRun = (id: string) => out.some((l) => l.startsWith(`N/A ${id} `));
    const expected = expectedAmong(EXPECTED_REQUESTER_FAILURES, notRun);
    expect(failedRules(out).sort()).toEqual(expected);
    expect(status.code).toBe(expected.length === 0 ? 0 : 1);
  }, 90_000);
});
