/**
 * The built `tailwire` CLI, run as real processes against a real nats-server.
 * Every wait is an event (a line, an exit) or a bounded vi.waitFor; nothing sleeps to synchronise.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NatsServer, NodeProcess } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

const DIST = fileURLToPath(new URL("../dist/", import.meta.url));
const CLI = join(DIST, "cli.js");
const REPO = fileURLToPath(new URL("../../../", import.meta.url));
/** The showcase's job (numbered lines on stdout and stderr at set rates): the jobs run here. */
const WORKLOAD = join(REPO, "apps", "demo", "dist", "showcase", "workload.js");

/** No colour unless a test asks for it (vitest may set FORCE_COLOR for its workers). */
const PLAIN_ENV: NodeJS.ProcessEnv = {
  NO_COLOR: "1",
  FORCE_COLOR: undefined,
  NATS_URL: undefined,
  TAILWIRE_LOG_LEVEL: undefined,
};

let nats: NatsServer;
let dir: string;
const started: NodeProcess[] = [];

interface Entry {
  seq: number;
  stream: "stdout" | "stderr";
  time: number;
  line: string;
}

interface Run {
  code: number | null;
  signal: string | null;
  stdout: string[];
  stderr: string[];
  ms: number;
}

async function start(
  args: string[],
  options: { readyLine?: string; env?: NodeJS.ProcessEnv } = {},
) {
  const proc = await NodeProcess.start({
    script: CLI,
    args,
    env: { ...PLAIN_ENV, ...options.env },
    ...(options.readyLine === undefined ? {} : { readyLine: options.readyLine }),
  });
  started.push(proc);
  return proc;
}

async function cli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Run> {
  const t0 = Date.now();
  const proc = await start(args, options.env === undefined ? {} : { env: options.env });
  const status = await proc.waitForExit(options.timeoutMs ?? 15_000);
  return { ...status, stdout: proc.stdoutLines, stderr: proc.stderrLines, ms: Date.now() - t0 };
}

const logs = (executionId: string, node: string, ...more: string[]) =>
  cli(logsArgs(executionId, node, ...more));
const logsArgs = (executionId: string, node: string, ...more: string[]) => [
  "logs",
  executionId,
  "--node",
  node,
  "--nats",
  nats.url,
  ...more,
];

async function startCompute(node: string, ...more: string[]): Promise<NodeProcess> {
  return start(
    [
      "compute",
      "--node-id",
      node,
      "--data-dir",
      join(dir, node),
      "--nats",
      nats.url,
      "--log-level",
      "info",
      ...more,
    ],
    { readyLine: `compute node ${node} ready` },
  );
}

/** A never-ending job captured into a compute node's dir (ends with the test run). */
async function startForever(node: string, executionId: string): Promise<NodeProcess> {
  const exec = await start(
    [
      "exec",
      "--data-dir",
      join(dir, node),
      "--execution-id",
      executionId,
      "--",
      process.execPath,
      WORKLOAD,
      executionId,
      "40",
      "150",
      "0",
      "0",
    ],
    { readyLine: `execution ${executionId} started` },
  );
  return exec;
}

/** LogStreamServer.stats() of a running `tailwire compute`, through its stdin. */
let statsTag = 0;
async function computeStats(
  compute: NodeProcess,
): Promise<{ openStreams: number; streamsEnded: Record<string, number> }> {
  const tag = `t${++statsTag}`;
  compute.stdin.write(`stats ${tag}\n`);
  const line = await compute.waitForLine(new RegExp(`^stats ${tag} `), 5000);
  return JSON.parse(line.slice(line.indexOf("{")));
}

function logLines(proc: NodeProcess): Record<string, unknown>[] {
  return proc.stderrLines
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

let c1: NodeProcess;
/** The ground truth of execution "done-1": its log file, one JSON entry per line. */
let done1: Entry[];

beforeAll(async () => {
  if (!existsSync(CLI) || !existsSync(WORKLOAD)) {
    execFileSync("npx", ["-y", "pnpm@10", "-r", "--filter", "@tailwire/demo...", "build"], {
      cwd: REPO,
      stdio: "inherit",
    });
  }
  nats = await NatsServer.start();
  dir = await mkdtemp(join(tmpdir(), "tailwire-cli-test-"));
  c1 = await startCompute("c1");
  // A completed execution: 3 stdout + 2 stderr lines, a pause, 2 + 1 more, exit code 3.
  const script = `
    const out = (s) => process.stdout.write(s + "\\n"), err = (s) => process.stderr.write(s + "\\n");
    out("o1"); err("e1"); out("o2"); err("e2"); out("o3");
    setTimeout(() => { out("o4"); err("e3"); out("o5"); process.exitCode = 3; }, 300);`;
  const run = await cli([
    "exec",
    "--data-dir",
    join(dir, "c1"),
    "--execution-id",
    "done-1",
    "--",
    process.execPath,
    "-e",
    script,
  ]);
  expect(run.code).toBe(3);
  done1 = readFileSync(join(dir, "c1", "done-1.log"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Entry);
  expect(done1).toHaveLength(8);
}, 180_000);

afterAll(async () => {
  await Promise.allSettled(started.filter((p) => p.running).map((p) => p.kill("SIGTERM", 3000)));
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const linesOf = (entries: Entry[], stream: "stdout" | "stderr") =>
  entries.filter((e) => e.stream === stream).map((e) => e.line);
/** --json output: the entries, and the end record (the last line) apart. */
function jsonOf(run: Run): { entries: Entry[]; end: Record<string, unknown> | undefined } {
  const records = run.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
  const last = records.at(-1);
  const end = last?.["type"] === "end" ? (records.pop() as Record<string, unknown>) : undefined;
  return { entries: records as unknown as Entry[], end };
}
/** The line `tailwire logs` ends with on stderr when the execution's exit code is known. */
const exitedLine = (executionId: string, code: number) =>
  `tailwire logs: execution ${executionId} exited with code ${code}`;

describe("tailwire exec + compute + logs", () => {
  it("exec stores every line with its stream, in order, and the exit code", () => {
    expect(done1.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(linesOf(done1, "stdout")).toEqual(["o1", "o2", "o3", "o4", "o5"]);
    expect(linesOf(done1, "stderr")).toEqual(["e1", "e2", "e3"]);
    expect(readFileSync(join(dir, "c1", "done-1.exit"), "utf8")).toContain('"exitCode":3');
  });

  it("logs prints stdout lines to stdout and stderr lines to stderr, and exits 0 at the end", async () => {
    const run = await logs("done-1", "c1");
    expect(run.code).toBe(0);
    expect(run.stdout).toEqual(["o1", "o2", "o3", "o4", "o5"]);
    // The job's own exit code is shown, after its output (and is not this command's).
    expect(run.stderr).toEqual(["e1", "e2", "e3", exitedLine("done-1", 3)]);
  });

  it("--compress asks for compressed frames and prints the same lines", async () => {
    const run = await logs("done-1", "c1", "--compress", "--json");
    expect(run.code).toBe(0);
    expect(jsonOf(run).entries).toEqual(done1);
  });

  it("--exit-code exits with the job's code; 11 when it has none yet", async () => {
    const run = await logs("done-1", "c1", "--exit-code");
    expect(run.code).toBe(3);
    expect(run.stdout).toEqual(["o1", "o2", "o3", "o4", "o5"]);
    await startForever("c1", "running-ec");
    const running = await logs("running-ec", "c1", "--exit-code");
    expect(running.code).toBe(11);
    expect(running.stderr.filter((l) => l.startsWith("tailwire logs:"))).toEqual([]);
  });

  it("--json prints every entry as one JSON object on stdout", async () => {
    const run = await logs("done-1", "c1", "--json");
    expect(run.code).toBe(0);
    const { entries, end } = jsonOf(run);
    expect(entries).toEqual(done1);
    // The last record says how the execution ended.
    expect(end).toEqual({ type: "end", executionId: "done-1", exitCode: 3, lastSeq: 8 });
    expect(run.stderr).toEqual([]);
  });

  it("--tail N prints the last N lines", async () => {
    const run = await logs("done-1", "c1", "--tail", "3", "--json");
    expect(jsonOf(run).entries).toEqual(done1.slice(-3));
    // docker's -n, and every line with kubectl's / docker's spellings of "all".
    expect(jsonOf(await logs("done-1", "c1", "-n", "2", "--json")).entries).toEqual(
      done1.slice(-2),
    );
    for (const all of [["--tail", "all"], ["--tail", "-1"], ["--tail=-1"], ["-n", "all"]]) {
      const run = await logs("done-1", "c1", ...all, "--json");
      expect(jsonOf(run).entries, `${all.join(" ")}: ${run.stderr.join("\n")}`).toEqual(done1);
    }
  });

  it("--stream stderr prints only stderr lines", async () => {
    const run = await logs("done-1", "c1", "--stream", "stderr");
    expect(run.code).toBe(0);
    expect(run.stdout).toEqual([]);
    expect(run.stderr).toEqual(["e1", "e2", "e3", exitedLine("done-1", 3)]);
  });

  it("--stream is repeatable (and takes a comma list): both streams, not the last one", async () => {
    for (const args of [
      ["--stream", "stdout", "--stream", "stderr"],
      ["--stream", "stderr,stdout"],
    ]) {
      const run = await logs("done-1", "c1", ...args, "--json");
      expect(jsonOf(run).entries, args.join(" ")).toEqual(done1);
    }
    const one = await logs("done-1", "c1", "--stream", "stdout", "--stream", "stdout", "--json");
    expect(jsonOf(one).entries).toEqual(done1.filter((e) => e.stream === "stdout"));
  });

  it("--from-seq N prints the lines after N", async () => {
    const run = await logs("done-1", "c1", "--from-seq", "5", "--json");
    expect(jsonOf(run).entries).toEqual(done1.filter((e) => e.seq > 5));
  });

  it("--since takes an RFC 3339 time or a duration", async () => {
    const late = done1.find((e) => e.line === "o4")!;
    const run = await logs("done-1", "c1", "--since", new Date(late.time).toISOString(), "--json");
    expect(run.code).toBe(0);
    expect(jsonOf(run).entries).toEqual(done1.filter((e) => e.time >= late.time));
    expect(jsonOf(run).entries.length).toBeLessThan(done1.length);
    const recent = await logs("done-1", "c1", "--since", "10m", "--json");
    expect(jsonOf(recent).entries).toHaveLength(done1.length);
  });

  it("--since takes a unix timestamp in seconds, as docker does", async () => {
    const late = done1.find((e) => e.line === "o4")!;
    const unix = (late.time / 1000).toFixed(3);
    const run = await logs("done-1", "c1", "--since", unix, "--json");
    expect(run.code).toBe(0);
    expect(jsonOf(run).entries).toEqual(done1.filter((e) => e.time >= late.time));
    expect(jsonOf(run).entries.length).toBeLessThan(done1.length);
  });

  it("--until prints only the lines captured before a time", async () => {
    const late = done1.find((e) => e.line === "o4")!;
    const until = new Date(late.time - 1).toISOString();
    const run = await logs("done-1", "c1", "--until", until, "--json");
    expect(run.code).toBe(0);
    expect(jsonOf(run).entries).toEqual(done1.filter((e) => e.time < late.time));
    expect(jsonOf(run).entries.length).toBeGreaterThan(0);
    // With --since: the window between.
    const since = new Date(done1[0]!.time).toISOString();
    const both = await logs("done-1", "c1", "--since", since, "--until", until, "--json");
    expect(jsonOf(both).entries).toEqual(done1.filter((e) => e.time < late.time));
    const backwards = await logs("done-1", "c1", "--since", until, "--until", since);
    expect(backwards.code).toBe(2);
  });

  it("-f --until stops following at that time, exit 0", async () => {
    await startForever("c1", "until-f");
    const t0 = Date.now();
    const run = await logs("until-f", "c1", "-f", "--until", new Date(t0 + 1500).toISOString());
    expect(run.code).toBe(0);
    expect(run.stdout.length).toBeGreaterThan(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    expect(Date.now() - t0).toBeLessThan(8000);
  });

  it("--timestamps prefixes every line with its capture time", async () => {
    const stdout = done1.filter((e) => e.stream === "stdout");
    for (const flag of ["--timestamps", "-t"]) {
      const run = await logs("done-1", "c1", flag);
      expect(run.stdout, flag).toEqual(
        stdout.map((e) => `${new Date(e.time).toISOString()} ${e.line}`),
      );
    }
  });

  it("colours stderr lines only when asked to (FORCE_COLOR) and never with --no-color", async () => {
    const coloured = await cli(logsArgs("done-1", "c1", "--stream", "stderr"), {
      env: { NO_COLOR: "", FORCE_COLOR: "1" },
    });
    expect(coloured.stderr[0]).toBe("\u001b[31me1\u001b[39m");
    const plain = await cli(logsArgs("done-1", "c1", "--stream", "stderr", "--no-color"), {
      env: { NO_COLOR: "", FORCE_COLOR: "1" },
    });
    expect(plain.stderr).toEqual(["e1", "e2", "e3", exitedLine("done-1", 3)]);
  });

  it("-f follows a running execution and exits 0 when it completes", async () => {
    const exec = await start(
      [
        "exec",
        "--data-dir",
        join(dir, "c1"),
        "--execution-id",
        "follow-1",
        "--",
        process.execPath,
        WORKLOAD,
        "f",
        "30",
        "100",
        "20",
        "0",
      ],
      { readyLine: "execution follow-1 started" },
    );
    const run = await logs("follow-1", "c1", "-f");
    expect(run.code).toBe(0);
    expect(run.stdout).toEqual([
      ...Array.from({ length: 20 }, (_, i) => expect.stringContaining(`[f] step ${i + 1}:`)),
      "[f] done",
    ]);
    expect(run.stderr.length).toBeGreaterThan(1);
    expect(run.stderr.slice(0, -1).every((l) => l.startsWith("[f] warning"))).toBe(true);
    expect(run.stderr.at(-1)).toBe(exitedLine("follow-1", 0));
    expect((await exec.waitForExit()).code).toBe(0);
  });

  it("-f --exit-code exits with the code the job exits with once it completes", async () => {
    const exec = await start(
      [
        "exec",
        "--data-dir",
        join(dir, "c1"),
        "--execution-id",
        "follow-4",
        "--",
        process.execPath,
        WORKLOAD,
        "f4",
        "20",
        "1000",
        "5",
        "4",
      ],
      { readyLine: "execution follow-4 started" },
    );
    const run = await logs("follow-4", "c1", "-f", "--exit-code", "--json");
    expect(run.code).toBe(4);
    expect(jsonOf(run).end).toMatchObject({ type: "end", executionId: "follow-4", exitCode: 4 });
    expect((await exec.waitForExit()).code).toBe(4);
  });
});

describe("tailwire logs failures: one line on stderr, one exit code per cause", () => {
  it("unknown execution: exit 3 (EXECUTION_NOT_FOUND)", async () => {
    const run = await logs("no-such-exec", "c1");
    expect(run.code).toBe(3);
    expect(run.stderr).toEqual([expect.stringMatching(/^tailwire logs: EXECUTION_NOT_FOUND: /)]);
  });

  it("unknown node: exit 4 (NODE_UNREACHABLE), at once rather than after the accept timeout", async () => {
    const run = await logs("done-1", "no-such-node", "--accept-timeout-ms", "20000");
    expect(run.code).toBe(4);
    expect(run.stderr).toEqual([expect.stringMatching(/^tailwire logs: NODE_UNREACHABLE: /)]);
    expect(run.ms).toBeLessThan(5000);
  });

  it("NATS unreachable: exit 9", async () => {
    const run = await cli(["logs", "done-1", "--node", "c1", "--nats", "nats://127.0.0.1:1"]);
    expect(run.code).toBe(9);
    expect(run.stderr).toEqual([expect.stringMatching(/^tailwire logs: cannot connect to NATS/)]);
  });

  it.each([
    ["a bad --tail", ["--tail", "many"]],
    ["a bad --since", ["--since", "yesterday"]],
    ["a bad --stream", ["--stream", "stdlog"]],
    ["an unknown option", ["--bogus"]],
  ])("bad usage (%s): exit 2", async (_what, extra) => {
    const run = await logs("done-1", "c1", ...extra);
    expect(run.code).toBe(2);
    expect(run.stderr[0]).toMatch(/^error: /);
    expect(run.stdout).toEqual([]);
  });

  it("bad usage (no execution id, both an id and --job, invalid execution id): exit 2", async () => {
    expect((await cli(["logs", "--nats", nats.url])).code).toBe(2);
    expect((await cli(["logs", "done-1", "--job", "j", "--nats", nats.url])).code).toBe(2);
    const invalid = await logs("../etc/passwd", "c1");
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toEqual(['tailwire logs: invalid execution id "../etc/passwd"']);
  });

  it("compute node SIGKILLed during a follow: exit 5 (COMPUTE_NODE_LOST) within the heartbeat bound", async () => {
    const c2 = await startCompute("c2");
    await startForever("c2", "forever-2");
    const follower = await start(
      logsArgs(
        "forever-2",
        "c2",
        "-f",
        "--heartbeat-interval-ms",
        "200",
        "--heartbeat-timeout-ms",
        "100",
        "--compute-lost-after-missed",
        "3",
      ),
    );
    await follower.waitForLine("[forever-2] step");
    const killedAt = Date.now();
    await c2.kill("SIGKILL");
    const status = await follower.waitForExit(10_000);
    const detectMs = Date.now() - killedAt;
    expect(status.code).toBe(5);
    expect(follower.stderrLines.filter((l) => l.startsWith("tailwire logs:"))).toEqual([
      expect.stringMatching(/^tailwire logs: COMPUTE_NODE_LOST: /),
    ]);
    // 3 silent intervals of 200 ms (+ a quarter interval of sweep, + process exit).
    expect(detectMs).toBeGreaterThanOrEqual(400);
    expect(detectMs).toBeLessThan(2500);
  });

  it("compute node stopped gracefully during a follow: exit 6 (GOING_AWAY), and the node exits 0", async () => {
    const c3 = await startCompute("c3");
    await startForever("c3", "forever-3");
    const follower = await start(logsArgs("forever-3", "c3", "-f"));
    await follower.waitForLine("[forever-3] step");
    expect(await c3.kill("SIGTERM")).toEqual({ code: 0, signal: null });
    expect((await follower.waitForExit()).code).toBe(6);
    expect(follower.stderrLines).toContainEqual(
      expect.stringMatching(/^tailwire logs: GOING_AWAY: /),
    );
    expect(logLines(c3)).toContainEqual(
      expect.objectContaining({ msg: "log stream ended", cause: "going_away" }),
    );
  });

  it("SIGINT during a follow: exit 130, and the compute node stops the stream at once", async () => {
    await startForever("c1", "forever-1");
    const follower = await start(
      logsArgs("forever-1", "c1", "-f", "--requester-id", "sigint-test"),
    );
    await follower.waitForLine("[forever-1] step");
    const before = (await computeStats(c1)).streamsEnded["cancelled"] ?? 0;
    const interruptedAt = Date.now();
    expect(await follower.kill("SIGINT")).toEqual({ code: 130, signal: null });
    await vi.waitFor(
      () => {
        expect(logLines(c1)).toContainEqual(
          expect.objectContaining({
            msg: "log stream ended",
            requesterNodeId: "sigint-test",
            cause: "cancelled",
          }),
        );
      },
      { timeout: 5000, interval: 20 },
    );
    const ended = logLines(c1).find(
      (l) => l["requesterNodeId"] === "sigint-test" && l["msg"] === "log stream ended",
    )!;
    // The cancel, not a heartbeat timeout (default interval 5 s), released it.
    expect((ended["time"] as number) - interruptedAt).toBeLessThan(2000);
    const stats = await computeStats(c1);
    expect(stats.streamsEnded["cancelled"]).toBe(before + 1);
    expect(stats.openStreams).toBe(0);
  });
});

describe("tailwire logs: what the requester's own side did, said as such", () => {
  it("NATS lost during -f: exit 9 NATS_UNAVAILABLE once --reconnect-window has passed", async () => {
    // Its own server, so that losing it touches no other test.
    const own = await NatsServer.start();
    try {
      await start(
        ["compute", "--node-id", "c5", "--data-dir", join(dir, "c5"), "--nats", own.url],
        { readyLine: "compute node c5 ready" },
      );
      await startForever("c5", "forever-5");
      const follower = await start([
        "logs",
        "forever-5",
        "--node",
        "c5",
        "--nats",
        own.url,
        "-f",
        "--reconnect-window",
        "1500ms",
      ]);
      await follower.waitForLine("[forever-5] step");
      const lostAt = Date.now();
      await own.stop();
      const status = await follower.waitForExit(15_000);
      const ms = Date.now() - lostAt;
      expect(status.code, follower.output()).toBe(9);
      expect(follower.stderrLines.filter((l) => l.startsWith("tailwire logs:"))).toEqual([
        expect.stringMatching(
          /^tailwire logs: NATS_UNAVAILABLE: lost the connection to NATS \(nats:\/\/.*\) and it was not back within 1\.5 s/,
        ),
      ]);
      // The window, not a hard-coded ~21 s.
      expect(ms).toBeGreaterThanOrEqual(1400);
      expect(ms).toBeLessThan(6000);
    } finally {
      await own.stop().catch(() => undefined);
    }
  });

  it("NATS back within --reconnect-window: the follow goes on, every line once, exit 0", async () => {
    const own = await NatsServer.start();
    try {
      await start(
        ["compute", "--node-id", "c8", "--data-dir", join(dir, "c8"), "--nats", own.url],
        { readyLine: "compute node c8 ready" },
      );
      const exec = await start(
        [
          ...["exec", "--data-dir", join(dir, "c8"), "--execution-id", "back-8", "--"],
          ...[process.execPath, WORKLOAD, "b", "50", "100000", "40", "0"],
        ],
        { readyLine: "execution back-8 started" },
      );
      const follower = await start([
        ...["logs", "back-8", "--node", "c8", "--nats", own.url, "-f"],
        ...["--reconnect-window", "20s"],
      ]);
      await follower.waitForLine("[b] step 3:");
      await own.kill();
      await own.restart();
      const status = await follower.waitForExit(30_000);
      expect(status.code, follower.output()).toBe(0);
      expect(follower.stdoutLines).toEqual([
        ...Array.from({ length: 40 }, (_, i) => expect.stringContaining(`[b] step ${i + 1}:`)),
        "[b] done",
      ]);
      expect(follower.stderrLines.at(-1)).toBe(exitedLine("back-8", 0));
      expect((await exec.waitForExit()).code).toBe(0);
    } finally {
      await own.stop().catch(() => undefined);
    }
  }, 60_000);

  it("two requesters with the same --requester-id: exit 10 naming the id, never COMPUTE_NODE_LOST", async () => {
    const c6 = await startCompute("c6");
    await startForever("c6", "forever-6");
    const twin = () =>
      start(
        logsArgs(
          "forever-6",
          "c6",
          "-f",
          "--requester-id",
          "twin-requester",
          "--heartbeat-interval-ms",
          "200",
          "--heartbeat-timeout-ms",
          "150",
        ),
      );
    const twins = [await twin(), await twin()];
    await Promise.all(twins.map((t) => t.waitForLine("[forever-6] step")));
    // The compute node takes the first answer to each heartbeat and drops the streams it names
    // as unknown: the other twin's. The first twin to lose its stream says why.
    const first = await Promise.race(
      twins.map(async (proc) => ({ proc, status: await proc.waitForExit(15_000) })),
    );
    expect(first.status.code, first.proc.output()).toBe(10);
    expect(first.proc.stderrLines.filter((l) => l.startsWith("tailwire logs:"))).toEqual([
      expect.stringMatching(
        /^tailwire logs: REQUESTER_LOST: another requester is most likely using requester id "twin-requester": compute node c6/,
      ),
    ]);
    // The other one either keeps its stream (its answers win) or says the same.
    for (const proc of twins) {
      const status = proc.running ? await proc.kill("SIGINT") : proc.exitStatus;
      expect([10, 130], proc.output()).toContain(status?.code);
      expect(proc.output()).not.toContain("COMPUTE_NODE_LOST");
    }
    // The compute node was healthy: it dropped streams as unknown to the requester.
    expect(logLines(c6)).toContainEqual(
      expect.objectContaining({ msg: "log stream ended", cause: "unknown_to_requester" }),
    );
  });

  it("a requester frozen past the compute node's patience: exit 10 saying it was stalled", async () => {
    const c7 = await startCompute("c7", "--heartbeat-max-missed", "2");
    await startForever("c7", "forever-7");
    const follower = await start(
      logsArgs(
        "forever-7",
        "c7",
        "-f",
        "--requester-id",
        "frozen-requester",
        "--heartbeat-interval-ms",
        "200",
        "--heartbeat-timeout-ms",
        "100",
      ),
    );
    await follower.waitForLine("[forever-7] step");
    follower.freeze();
    // Thawed once the (healthy) compute node has given it up.
    await vi.waitFor(
      () => {
        expect(logLines(c7)).toContainEqual(
          expect.objectContaining({ msg: "log stream ended", cause: "requester_lost" }),
        );
      },
      { timeout: 10_000, interval: 20 },
    );
    follower.thaw();
    const status = await follower.waitForExit(10_000);
    expect(status.code, follower.output()).toBe(10);
    expect(follower.stderrLines.filter((l) => l.startsWith("tailwire logs:"))).toEqual([
      expect.stringMatching(
        /^tailwire logs: REQUESTER_LOST: this requester was stalled for \d+ ms .* compute node c7 has not been heard from since/,
      ),
    ]);
    expect(follower.output()).not.toContain("COMPUTE_NODE_LOST");
  });
});

describe("tailwire command line", () => {
  it.each([[[]], [["server"]], [["compute"]], [["exec"]], [["logs"]]])(
    "--help works: %j",
    async (command) => {
      const run = await cli([...command, "--help"]);
      expect(run.code).toBe(0);
      expect(run.stdout[0]).toMatch(/^Usage: tailwire/);
    },
  );

  it("logs --help documents every exit code; --version prints the version", async () => {
    const help = (await cli(["logs", "--help"])).stdout.join("\n");
    for (const code of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 130, 143])
      expect(help).toMatch(new RegExp(`^ +${code}  [A-Z_]+ `, "m"));
    expect((await cli(["--version"])).stdout).toEqual(["0.1.0"]);
  });

  it("exec exits with the command's exit code, 127 when it cannot be started", async () => {
    const failing = await cli([
      "exec",
      "--data-dir",
      join(dir, "c1"),
      "--execution-id",
      "exit-7",
      "--",
      process.execPath,
      "-e",
      "process.exit(7)",
    ]);
    expect(failing.code).toBe(7);
    const missing = await cli([
      "exec",
      "--data-dir",
      join(dir, "c1"),
      "--execution-id",
      "missing-1",
      "--",
      "/no/such/command",
    ]);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toEqual([
      expect.stringMatching(/^tailwire exec: cannot run \/no\/such\/command/),
    ]);
  });

  it("exec without --execution-id generates one and prints it; logs finds it by that id", async () => {
    const run = await cli([
      "exec",
      "--data-dir",
      join(dir, "c1"),
      "--",
      process.execPath,
      "-e",
      'console.log("generated")',
    ]);
    expect(run.code).toBe(0);
    const id = /^execution (exec-\d{8}-\d{6}-[0-9a-f]{4}) started: /.exec(run.stdout[0] ?? "")?.[1];
    expect(id, run.stdout.join("\n")).toBeDefined();
    expect(run.stdout.at(-1)).toBe(`execution ${id} completed: exit code 0`);
    const read = await logs(id!, "c1");
    expect(read.stdout).toEqual(["generated"]);
  });

  it("exec --tee echoes the command's output as it captures it; its own lines go to stderr", async () => {
    const script =
      'console.log("out 1"); console.error("err 1"); console.log("out 2"); process.exitCode = 5';
    const run = await cli([
      "exec",
      "--data-dir",
      join(dir, "c1"),
      "--execution-id",
      "tee-1",
      "--tee",
      "--",
      process.execPath,
      "-e",
      script,
    ]);
    expect(run.code).toBe(5);
    expect(run.stdout).toEqual(["out 1", "out 2"]);
    expect(run.stderr).toEqual([
      expect.stringMatching(/^execution tee-1 started: /),
      "err 1",
      "execution tee-1 completed: exit code 5",
    ]);
    const captured = await logs("tee-1", "c1", "--json");
    // Each stream's lines in order (how the two pipes interleave is up to the OS).
    expect(linesOf(jsonOf(captured).entries, "stdout")).toEqual(["out 1", "out 2"]);
    expect(linesOf(jsonOf(captured).entries, "stderr")).toEqual(["err 1"]);
  });

  it("server runs an embedded nats-server and stops it on SIGTERM", async () => {
    const server = await start(["server"], { readyLine: "nats-server ready at" });
    const url = /nats:\/\/127\.0\.0\.1:\d+/.exec(server.stdoutLines[0] ?? "")?.[0];
    expect(url).toBeDefined();
    const compute = await start(
      ["compute", "--node-id", "s1", "--data-dir", join(dir, "s1"), "--nats", url!],
      {
        readyLine: "compute node s1 ready",
      },
    );
    expect(await compute.kill("SIGTERM")).toEqual({ code: 0, signal: null });
    expect(await server.kill("SIGTERM")).toEqual({ code: 0, signal: null });
    expect(server.stdoutLines).toContain("nats-server stopped");
  });
});
