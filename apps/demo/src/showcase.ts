/**
 * `pnpm demo`: the tailwire showcase. Starts an embedded nats-server, three compute nodes
 * (`tailwire compute`), three jobs captured by `tailwire exec` and a requester node, all as
 * separate processes, then narrates: tail + follow, cancel, a compute node SIGKILLed, the
 * requester SIGKILLed, with measured detection times, and cleans up every process it started.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { colorEnabled, palette } from "@tailwire/cli";
import { NatsServer, NodeProcess } from "@tailwire/testkit";
import {
  type ComputeStats,
  computeStats,
  type RequesterEvent,
  RequesterEvents,
  streamEndedLog,
} from "./showcase/events.js";

/** The `tailwire` binary of the installed @tailwire/cli, found the way npm links it: its `bin`. */
const CLI = (() => {
  const manifest = createRequire(import.meta.url).resolve("@tailwire/cli/package.json");
  const { bin } = JSON.parse(readFileSync(manifest, "utf8")) as { bin: { tailwire: string } };
  return join(dirname(manifest), bin.tailwire);
})();
const REQUESTER = fileURLToPath(new URL("./showcase/requester-node.js", import.meta.url));
/** The job all three executions of the showcase belong to. */
const JOB_ID = "showcase-job";
const WORKLOAD = fileURLToPath(new URL("./showcase/workload.js", import.meta.url));

/** Demo timing: short on purpose, so every failure is detected within a second. */
const TIMING = {
  heartbeatIntervalMs: 250,
  heartbeatTimeoutMs: 150,
  maxMissed: 2,
  computeLostAfterMissed: 3,
  acceptTimeoutMs: 3000,
};
const REQUESTER_ID = "requester-1";

const c = palette(colorEnabled(process.stdout));
const out = (text = "") => process.stdout.write(`${text}\n`);

interface Started {
  name: string;
  role: "compute" | "exec" | "requester" | "gateway";
  proc: NodeProcess;
}

interface SummaryRow {
  step: string;
  what: string;
  result: string;
  time: string;
}

class Showcase {
  readonly started: Started[] = [];
  readonly summary: SummaryRow[] = [];
  nats: NatsServer | undefined;
  dir: string | undefined;
  #cleanup: Promise<string[]> | undefined;
  /** Processes being started: cleanup waits for them, so none escapes it. */
  readonly #starting = new Set<Promise<NodeProcess>>();

  proc(name: string): NodeProcess {
    const found = this.started.find((s) => s.name === name);
    if (!found) throw new Error(`no process ${name}`);
    return found.proc;
  }

  async start(
    name: string,
    role: Started["role"],
    script: string,
    args: string[],
    /** Undefined: a command that just runs (wait for its exit instead). */
    readyLine: string | undefined,
  ) {
    if (this.#cleanup) throw new Error("stopping");
    const starting = NodeProcess.start({
      script,
      args,
      ...(readyLine === undefined ? {} : { readyLine, readyTimeoutMs: 15_000 }),
    });
    this.#starting.add(starting);
    try {
      const proc = await starting;
      this.started.push({ name, role, proc });
      return proc;
    } finally {
      this.#starting.delete(starting);
    }
  }

  /**
   * Stops everything, gently first: the requester, the jobs (exec passes SIGTERM on to its
   * command), the compute nodes (graceful: GOING_AWAY), then nats-server. Returns one line per
   * process. Idempotent: Ctrl-C during cleanup waits for the same cleanup.
   */
  cleanup(interrupted = false): Promise<string[]> {
    this.#cleanup ??= this.#doCleanup(interrupted);
    return this.#cleanup;
  }

  async #doCleanup(interrupted: boolean): Promise<string[]> {
    const report: string[] = [];
    await Promise.allSettled([...this.#starting]);
    if (interrupted) {
      // Ctrl-C reaches the whole process group: the children are shutting down on their own
      // already. Give them a moment, so a SIGTERM does not hit a process that is exiting.
      await Promise.allSettled(this.started.map((s) => s.proc.waitForExit(1500)));
    }
    for (const role of ["gateway", "requester", "exec", "compute"] as const) {
      await Promise.all(
        this.started
          .filter((s) => s.role === role)
          .map(async (s) => {
            const wasRunning = s.proc.running;
            const status = wasRunning ? await s.proc.kill("SIGTERM", 3000) : s.proc.exitStatus;
            const how = status?.signal ? `signal ${status.signal}` : `exit code ${status?.code}`;
            report.push(
              `${s.name} (pid ${s.proc.pid}): ${wasRunning ? "stopped, " : "had exited, "}${how}`,
            );
          }),
      );
    }
    if (this.nats) {
      const pid = this.nats.pid;
      await this.nats.stop();
      report.push(`nats-server (pid ${pid}): stopped`);
    }
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    return report;
  }
}

function step(n: number | string, title: string): void {
  out();
  out(c.bold(c.cyan(`━━ ${n}. ${title}`)));
}

function note(text: string): void {
  out(`   ${c.dim("·")} ${text}`);
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

function printEntry(node: string, e: Extract<RequesterEvent, { type: "entry" }>): void {
  const label = e.stream === "stdout" ? c.green("stdout") : c.red("stderr");
  const line = e.stream === "stdout" ? e.line : c.yellow(e.line);
  out(
    `     ${c.dim(node)} ${label} ${c.dim(clock(e.time))} ${c.dim(`#${String(e.seq).padStart(3)}`)}  ${line}`,
  );
}

const ms = (value: number) => `${Math.round(value)} ms`;

async function run(show: Showcase): Promise<void> {
  const t0 = Date.now();
  out(c.bold("tailwire showcase") + c.dim("  (reliable log streaming over NATS)"));
  note(
    `demo timing: heartbeat every ${TIMING.heartbeatIntervalMs} ms, timeout ${TIMING.heartbeatTimeoutMs} ms; ` +
      `a requester is given up after ${TIMING.maxMissed} failed heartbeats, ` +
      `a compute node is lost after ${TIMING.computeLostAfterMissed} silent intervals`,
  );
  note(`(production defaults: 5000 ms / 2000 ms; every value is a CLI option)`);

  // ---- the cluster ----------------------------------------------------------------------
  step(
    0,
    "start nats-server, three compute nodes, three jobs and a requester (separate processes)",
  );
  show.dir = await mkdtemp(join(tmpdir(), "tailwire-showcase-"));
  show.nats = await NatsServer.start();
  const nats = show.nats.url;
  note(`nats-server ${nats} (pid ${show.nats.pid})`);

  const nodes = ["compute-1", "compute-2", "compute-3"];
  await Promise.all(
    nodes.map((node) =>
      show.start(
        node,
        "compute",
        CLI,
        [
          "compute",
          ...["--node-id", node, "--data-dir", join(show.dir!, node), "--nats", nats],
          ...["--heartbeat-timeout-ms", String(TIMING.heartbeatTimeoutMs)],
          ...["--heartbeat-max-missed", String(TIMING.maxMissed)],
          ...["--poll-interval-ms", "50", "--log-level", "info"],
        ],
        `compute node ${node} ready`,
      ),
    ),
  );
  for (const node of nodes)
    note(`tailwire compute --node-id ${node}  (pid ${show.proc(node).pid})`);

  // Three jobs: stdout and stderr at different rates; job-a ends, job-b and job-c run on.
  const jobs = [
    {
      id: "job-a",
      node: "compute-1",
      args: ["build", "60", "250", "45", "0"],
      what: "build: 45 steps, then exit 0",
    },
    {
      id: "job-b",
      node: "compute-2",
      args: ["train", "100", "700", "0", "0"],
      what: "training: runs until stopped",
    },
    {
      id: "job-c",
      node: "compute-3",
      args: ["serve", "120", "450", "0", "0"],
      what: "server: runs until stopped",
    },
  ];
  await Promise.all(
    jobs.map((job) =>
      show.start(
        job.id,
        "exec",
        CLI,
        [
          "exec",
          ...["--data-dir", join(show.dir!, job.node), "--execution-id", job.id],
          // One job id for all three: `tailwire logs --job` follows them as one (step 1b).
          ...["--job-id", JOB_ID],
          "--",
          process.execPath,
          WORKLOAD,
          ...job.args,
        ],
        `execution ${job.id} started`,
      ),
    ),
  );
  for (const job of jobs) {
    note(
      `tailwire exec --execution-id ${job.id} on ${job.node}: ${job.what}  (pid ${show.proc(job.id).pid})`,
    );
  }

  const requester = await show.start(
    REQUESTER_ID,
    "requester",
    REQUESTER,
    [
      ...["--requester-id", REQUESTER_ID, "--nats", nats],
      ...["--heartbeat-interval-ms", String(TIMING.heartbeatIntervalMs)],
      ...["--heartbeat-timeout-ms", String(TIMING.heartbeatTimeoutMs)],
      ...["--compute-lost-after-missed", String(TIMING.computeLostAfterMissed)],
      ...["--accept-timeout-ms", String(TIMING.acceptTimeoutMs)],
    ],
    `requester ${REQUESTER_ID} ready`,
  );
  note(`requester ${REQUESTER_ID}: one LogStreamClient  (pid ${requester.pid})`);
  const events = new RequesterEvents(requester);
  const send = (command: Record<string, unknown>) =>
    requester.stdin.write(`${JSON.stringify(command)}\n`);
  // Let job-a write some history for the tail to show.
  await show.proc("job-a").waitForLine("execution job-a started");
  await delay(600);

  // ---- 1. tail + follow -----------------------------------------------------------------
  step(1, "stream job-a from compute-1: the last 5 lines, then follow until it completes");
  note(
    `stdout and stderr told apart (${c.green("stdout")} / ${c.red("stderr")}); # is the line's sequence number`,
  );
  const s1Start = Date.now();
  send({ op: "follow", tag: "s1", node: "compute-1", executionId: "job-a", tail: 5 });
  const counts = { stdout: 0, stderr: 0 };
  let historyUpTo: number | undefined;
  let liveShown = false;
  let exitCode: number | null = null;
  for (;;) {
    const e = await events.next();
    if (e.tag !== "s1") continue;
    if (e.type === "accepted") {
      historyUpTo = e.lastSeq;
      note(
        `accepted by compute-1: history up to #${e.lastSeq}, streaming lines after #${e.afterSeq}`,
      );
    } else if (e.type === "entry") {
      if (!liveShown && historyUpTo !== undefined && e.seq > historyUpTo) {
        liveShown = true;
        out(`     ${c.dim("── live (follow) ──")}`);
      }
      counts[e.stream]++;
      printEntry("compute-1", e);
    } else if (e.type === "end") {
      exitCode = e.exitCode;
      break;
    } else if (e.type === "error") {
      throw new Error(`step 1 failed: ${e.code}: ${e.message}`);
    }
  }
  const s1Ms = Date.now() - s1Start;
  note(
    `End frame: job-a exited with code ${exitCode}; ${counts.stdout + counts.stderr} lines ` +
      `(${counts.stdout} stdout, ${counts.stderr} stderr) in ${ms(s1Ms)}`,
  );
  show.summary.push({
    step: "1",
    what: "tail 5 + follow job-a (compute-1)",
    result: `${counts.stdout} stdout + ${counts.stderr} stderr lines, End exit ${exitCode}`,
    time: `${ms(s1Ms)} stream`,
  });

  // ---- 1b. the person's way in: HTTP, the web view and the whole job ------------------------
  step("1b", "the same logs for a person: over HTTP (tailwire gateway) and a whole job at once");
  const gateway = await show.start(
    "gateway",
    "gateway",
    CLI,
    ["gateway", "--listen", "127.0.0.1:0", "--nats", nats, "--log-level", "warn"],
    "tailwire gateway listening on",
  );
  const gatewayUrl = /listening on (\S+)/.exec(
    gateway.stdoutLines.find((l) => l.includes("listening on")) ?? "",
  )?.[1];
  if (!gatewayUrl) throw new Error("the gateway did not say where it listens");
  // No node named: the gateway asks which compute node holds job-a.
  const http = await fetch(`${gatewayUrl}/v1/executions/job-a/logs?tail=3`, {
    headers: { accept: "application/x-ndjson" },
  });
  const records = (await http.text())
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { seq?: number; line?: string; end?: { exitCode: number } });
  note(`GET ${gatewayUrl}/v1/executions/job-a/logs?tail=3  →  HTTP ${http.status}, ndjson:`);
  for (const r of records) out(`     ${c.dim(JSON.stringify(r))}`);
  note(`while this runs: open ${c.bold(`${gatewayUrl}/#/executions/job-b`)} (the web log view)`);
  note(`or: curl -N '${gatewayUrl}/v1/executions/job-c/logs?follow=true'`);
  const whole = await show.start(
    "job-logs",
    "requester",
    CLI,
    ["logs", "--job", JOB_ID, "--prefix", "--tail", "2", "--nats", nats],
    undefined,
  );
  await whole.waitForExit(15_000);
  note(
    `tailwire logs --job ${JOB_ID} --prefix --tail 2  (no node named: three executions, merged)`,
  );
  for (const line of whole.stdoutLines) out(`     ${line}`);
  for (const line of whole.stderrLines) out(`     ${c.dim(line)}`);
  show.summary.push({
    step: "1b",
    what: "job-a over HTTP; the whole job via the CLI",
    result: `HTTP ${http.status}, ${records.length} records; ${whole.stdoutLines.length} lines from ${
      new Set(whole.stdoutLines.map((l) => l.split("]")[0])).size
    } executions`,
    time: "",
  });

  // ---- 2. cancel ------------------------------------------------------------------------
  step(2, "follow job-b on compute-2, then cancel the follow");
  send({ op: "follow", tag: "s2", node: "compute-2", executionId: "job-b", tail: 3 });
  let s2Stream = "";
  let shown = 0;
  while (shown < 8 || s2Stream === "") {
    const e = await events.next();
    if (e.tag !== "s2") continue;
    if (e.type === "accepted") s2Stream = e.streamId;
    else if (e.type === "entry") {
      printEntry("compute-2", e);
      shown++;
    } else if (e.type === "end" || e.type === "error")
      throw new Error(`step 2: the stream ended early (${e.type})`);
  }
  send({ op: "cancel", tag: "s2" });
  let cancelledAt = 0;
  for (;;) {
    const e = await events.next();
    if (e.tag === "s2" && e.type === "cancelled") {
      cancelledAt = e.at;
      break;
    }
  }
  note(`${REQUESTER_ID} called stream.cancel() at ${clock(cancelledAt)}`);
  const ended2 = await streamEndedLog(show.proc("compute-2"), s2Stream);
  const release2 = ended2.time - cancelledAt;
  note(
    `compute-2 log: "log stream ended", cause ${c.bold(String(ended2.cause))}, ${ms(release2)} after the cancel`,
  );
  const before = await computeStats(show.proc("compute-2"));
  await delay(600); // watch the node for a while: it must stay silent
  const after = await computeStats(show.proc("compute-2"));
  const silent = after.framesSent === before.framesSent && after.openStreams === 0;
  note(
    `compute-2 stats: open streams ${after.openStreams}, frames sent ${before.framesSent} → ${after.framesSent} ` +
      `over 600 ms ${silent ? c.green("(stopped sending)") : c.red("(STILL SENDING)")}; job-b keeps running`,
  );
  show.summary.push({
    step: "2",
    what: "cancel a follow (job-b, compute-2)",
    result: `compute released it (${ended2.cause}), ${silent ? "sent nothing after" : "KEPT SENDING"}`,
    time: `${ms(release2)} to release`,
  });
  if (!silent) throw new Error("compute-2 kept sending after the cancel");

  // ---- 3. compute node SIGKILLed ---------------------------------------------------------
  step(3, "follow job-c on compute-3, then SIGKILL compute-3");
  send({ op: "follow", tag: "s3", node: "compute-3", executionId: "job-c", tail: 2 });
  shown = 0;
  let s3Accepted = false;
  while (shown < 6 || !s3Accepted) {
    const e = await events.next();
    if (e.tag !== "s3") continue;
    if (e.type === "accepted") s3Accepted = true;
    else if (e.type === "entry") {
      printEntry("compute-3", e);
      shown++;
    } else if (e.type === "end" || e.type === "error")
      throw new Error(`step 3: the stream ended early (${e.type})`);
  }
  const killedAt = Date.now();
  await show.proc("compute-3").kill("SIGKILL");
  note(`${c.red("kill -9")} compute-3 (pid ${show.proc("compute-3").pid}) at ${clock(killedAt)}`);
  let lost: Extract<RequesterEvent, { type: "error" }> | undefined;
  while (!lost) {
    const e = await events.next();
    if (e.tag !== "s3") continue;
    if (e.type === "entry") printEntry("compute-3", e);
    else if (e.type === "error") lost = e;
    else if (e.type === "end") throw new Error("step 3: the stream ended normally after the kill");
  }
  const detect3 = lost.at - killedAt;
  const bound3 =
    TIMING.heartbeatIntervalMs * TIMING.computeLostAfterMissed + TIMING.heartbeatIntervalMs / 4;
  note(`the stream ended with ${c.bold(c.red(lost.code))}: ${lost.message}`);
  note(
    `detected ${ms(detect3)} after the kill (bound: ${TIMING.computeLostAfterMissed} × ${TIMING.heartbeatIntervalMs} ms + sweep ≈ ${ms(bound3)})`,
  );
  show.summary.push({
    step: "3",
    what: "SIGKILL compute-3 during a follow",
    result: `stream ended with ${lost.code}`,
    time: `${ms(detect3)} to detect`,
  });

  // ---- 4. requester SIGKILLed ------------------------------------------------------------
  step(4, `follow job-b on compute-2 again, then SIGKILL the requester (${REQUESTER_ID})`);
  send({ op: "follow", tag: "s4", node: "compute-2", executionId: "job-b", tail: 0 });
  shown = 0;
  let s4Stream = "";
  while (shown < 5 || s4Stream === "") {
    const e = await events.next();
    if (e.tag !== "s4") continue;
    if (e.type === "accepted") s4Stream = e.streamId;
    else if (e.type === "entry") {
      printEntry("compute-2", e);
      shown++;
    } else if (e.type === "end" || e.type === "error")
      throw new Error(`step 4: the stream ended early (${e.type})`);
  }
  const requesterKilledAt = Date.now();
  await requester.kill("SIGKILL");
  note(`${c.red("kill -9")} ${REQUESTER_ID} (pid ${requester.pid}) at ${clock(requesterKilledAt)}`);
  const ended4 = await streamEndedLog(show.proc("compute-2"), s4Stream);
  const detect4 = ended4.time - requesterKilledAt;
  const bound4 = TIMING.heartbeatIntervalMs * TIMING.maxMissed + TIMING.heartbeatTimeoutMs;
  const stats4: ComputeStats = await computeStats(show.proc("compute-2"));
  note(
    `compute-2 log: "log stream ended", cause ${c.bold(String(ended4.cause))}, ${ms(detect4)} after the kill`,
  );
  note(
    `(bound: ${TIMING.maxMissed} heartbeats × ${TIMING.heartbeatIntervalMs} ms + ${TIMING.heartbeatTimeoutMs} ms timeout = ${ms(bound4)}; ` +
      `a dead requester's subject has no responders, so heartbeats fail at once)`,
  );
  note(
    `compute-2 stats: open streams ${stats4.openStreams}, heartbeats failed ${stats4.heartbeatsFailed}, ` +
      `streams ended ${JSON.stringify(stats4.streamsEnded)}`,
  );
  show.summary.push({
    step: "4",
    what: `SIGKILL ${REQUESTER_ID} during a follow`,
    result: `compute-2 released the stream (${ended4.cause})`,
    time: `${ms(detect4)} to release`,
  });
  if (ended4.cause !== "requester_lost")
    throw new Error(`step 4: unexpected cause ${ended4.cause}`);

  // ---- 5. summary ---------------------------------------------------------------------------
  step(5, "cleanup and summary");
  const report = await show.cleanup();
  for (const line of report) note(line);
  const alive = show.started.filter((s) => s.proc.running).length + (show.nats?.running ? 1 : 0);
  note(
    alive === 0
      ? c.green("every process the showcase started has exited")
      : c.red(`${alive} processes still running`),
  );
  out();
  printTable(show.summary);
  out();
  out(c.dim(`total ${ms(Date.now() - t0)}`));
  if (alive !== 0) throw new Error("processes left behind");
}

function printTable(rows: SummaryRow[]): void {
  const headers: SummaryRow = {
    step: "step",
    what: "what happened",
    result: "outcome",
    time: "timing",
  };
  const keys = ["step", "what", "result", "time"] as const;
  const width = Object.fromEntries(
    keys.map((k) => [k, Math.max(headers[k].length, ...rows.map((r) => r[k].length))]),
  ) as Record<(typeof keys)[number], number>;
  const line = (r: SummaryRow, style: (s: string) => string = (s) => s) =>
    `  ${keys.map((k) => style(r[k].padEnd(width[k]))).join("  │  ")}`;
  out(line(headers, c.bold));
  out(`  ${keys.map((k) => "─".repeat(width[k])).join("──┼──")}`);
  for (const row of rows) out(line(row));
}

async function main(): Promise<void> {
  const show = new Showcase();
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = signal;
    out();
    out(c.yellow(`${signal}: stopping every process the showcase started...`));
    void show.cleanup(true).then(
      (report) => {
        for (const line of report) note(line);
        process.exit(signal === "SIGINT" ? 130 : 143);
      },
      () => process.exit(1),
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await run(show);
    process.exitCode = 0;
  } catch (error) {
    if (interrupted) return; // the signal handler cleans up and exits
    out();
    out(c.red(`showcase failed: ${error instanceof Error ? error.message : String(error)}`));
    for (const s of show.started) {
      process.stderr.write(
        `--- ${s.name} (last lines) ---\n${s.proc.lines.slice(-15).join("\n")}\n`,
      );
    }
    await show.cleanup().catch(() => {});
    process.exitCode = 1;
  }
}

await main();
