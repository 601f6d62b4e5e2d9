// The `tailwire` CLI under exactly SECURITY.md's permission table (TLS, one user per role): a
// `tailwire compute` and a `tailwire logs -f` run for several heartbeat intervals with every
// heartbeat answered, no requester given up and every line delivered once. Before the compute
// command took the `_INBOX_<id>` inbox prefix, its heartbeats asked for replies on `_INBOX.>`,
// which the table does not grant: every heartbeat failed and its streams were dropped.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NodeProcess } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecureNats } from "./cluster.js";

const CLI = fileURLToPath(new URL("../../../../packages/cli/dist/cli.js", import.meta.url));
const ENV: NodeJS.ProcessEnv = { NO_COLOR: "1", FORCE_COLOR: undefined, NATS_URL: undefined };

let nats: SecureNats;
let dir: string;
const started: NodeProcess[] = [];

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`build the CLI first (${CLI})`);
  nats = await SecureNats.start();
  dir = await mkdtemp(join(tmpdir(), "tailwire-cli-perms-"));
});
afterAll(async () => {
  await Promise.allSettled(started.filter((p) => p.running).map((p) => p.kill("SIGTERM", 3000)));
  await nats.stop();
  await rm(dir, { recursive: true, force: true });
});

async function start(args: string[], readyLine?: RegExp | string): Promise<NodeProcess> {
  const proc = await NodeProcess.start({
    script: CLI,
    args,
    env: ENV,
    ...(readyLine === undefined ? {} : { readyLine }),
  });
  started.push(proc);
  return proc;
}

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
