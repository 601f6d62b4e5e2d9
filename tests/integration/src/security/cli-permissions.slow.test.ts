// The `tailwire` CLI under exactly SECURITY.md's permission table (TLS, one user per role): a
// `tailwire compute` and a `tailwire logs -f` run for several heartbeat intervals with every
// heartbeat answered, no requester given up and every line delivered once. Before the compute
// command took the `_INBOX_<id>` inbox prefix, its heartbeats asked for replies on `_INBOX.>`,
// which the table does not grant: every heartbeat failed and its streams were dropped.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CliProcesses,
  ensureCliBuilt,
} from "../../../../packages/cli/src/test-helpers/cli-processes.js";
import { SecureNats } from "./cluster.js";

let nats: SecureNats;
let dir: string;
const cli = new CliProcesses();

beforeAll(async () => {
  ensureCliBuilt();
  // This release's nodes run under the rolling upgrade's table (SECURITY.md, VERSIONING.md).
  nats = await SecureNats.start("v1+v2");
  dir = await mkdtemp(join(tmpdir(), "tailwire-cli-perms-"));
});
afterAll(async () => {
  await cli.stopAll();
  await nats.stop();
  await rm(dir, { recursive: true, force: true });
});

const start = (args: string[], readyLine?: string) =>
  cli.start(args, readyLine === undefined ? {} : { readyLine });

/** The CLI's connection options for one role's user of the secure server. */
function login(user: { user: string; password: string }): string[] {
  return [
    ...["--nats", nats.url, "--tls-ca", nats.ca.caFile],
    ...["--user", user.user, "--password", user.password],
  ];
}

describe("the CLI under SECURITY.md's permissions", () => {
  it("tailwire compute and tailwire logs -f: every heartbeat answered, every line once", async () => {
    const computeId = "compute-a";
    // A job that prints 40 lines over about 3 s: the follow spans several heartbeats.
    const job = `let i = 0; const t = setInterval(() => { console.log("line " + ++i); if (i === 40) clearInterval(t); }, 75);`;
    const exec = await start(
      [
        ...["exec", "--data-dir", dir, "--execution-id", "perm-1", "--"],
        ...[process.execPath, "-e", job],
      ],
      "execution perm-1 started",
    );
    const compute = await start(
      [
        ...["compute", "--node-id", computeId, "--data-dir", dir, "--log-level", "info"],
        ...login(nats.computes[computeId]),
      ],
      `compute node ${computeId} ready`,
    );
    const logs = await start([
      ...["logs", "perm-1", "--node", computeId, "--requester-id", "req-1", "-f"],
      // Room for a loaded 2-core machine: a heartbeat answer has 250 ms to come back.
      ...["--heartbeat-interval-ms", "300", "--heartbeat-timeout-ms", "250"],
      ...login(nats.requesters["req-1"]),
    ]);
    expect(await logs.waitForExit(20_000)).toEqual({ code: 0, signal: null });
    expect(logs.stdoutLines).toEqual(Array.from({ length: 40 }, (_, i) => `line ${i + 1}`));
    expect((await exec.waitForExit(10_000)).code).toBe(0);

    compute.stdin.write("stats s1\n");
    const line = await compute.waitForLine(/^stats s1 /, 5000);
    const stats = JSON.parse(line.slice(line.indexOf("{"))) as {
      heartbeatsSent: number;
      heartbeatsFailed: number;
      streamsEnded: Record<string, number>;
    };
    // Seconds of follow at a 300 ms interval: heartbeats went out and every one came back.
    expect(stats.heartbeatsSent).toBeGreaterThanOrEqual(3);
    expect(stats.heartbeatsFailed).toBe(0);
    expect(stats.streamsEnded).toMatchObject({ completed: 1, requester_lost: 0 });
    // And the server refused nothing to either process.
    expect(nats.server.logTail(500)).not.toMatch(/Violation/);
  });
});
