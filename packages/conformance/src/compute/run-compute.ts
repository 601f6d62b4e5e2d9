// Compute mode: the runner plays requesters against a live compute node and checks what it
// sends. Scenarios run one after another, each with requester ids of its own.
import type { NatsConnection } from "@nats-io/nats-core";
import {
  ERROR_CODES,
  type ErrorFrame,
  type LogEntry,
  MessageType,
  newStreamId,
  subjects,
} from "@tailwire/protocol";
import { CONFORMANCE_LIMITS, type ConformanceLimits } from "../profile.js";
import { type ConformanceReport, Recorder } from "../report.js";
import { readSeed, type SeedName, seedEntries } from "../seeds.js";
import { windowOf } from "../waiter.js";
import {
  type PlayedRequester as Played,
  PlayedRequester,
  type PlayedStream,
} from "./played-requester.js";
import { checkStream, type Expectation } from "./stream-checks.js";

export interface ComputeConformanceOptions {
  /** A NATS connection (yours: the runner never closes it). */
  connection: NatsConnection;
  /** The id of the compute node under test. */
  nodeId: string;
  /** The limits the node under test runs with (default CONFORMANCE_LIMITS). */
  limits?: ConformanceLimits;
  /** Prefix of the requester ids the runner plays (default "twc" and a random suffix). */
  requesterPrefix?: string;
  /** Windows the credit rule is checked with (default 1024, 4096, 32768). */
  windows?: number[];
  /** Execution ids the node holds the seeds under, when not the seeds' own ids. */
  executionIds?: Partial<Record<SeedName, string>>;
  /** Run only these scenarios (COMPUTE_SCENARIOS); rules of the others are reported N/A. */
  only?: readonly ComputeScenario[];
  /** Progress messages (a scenario started); default silent. */
  progress?: (message: string) => void;
}

export const COMPUTE_SCENARIOS = [
  "reads",
  "read-options",
  "cancel",
  "heartbeats",
  "requester-lost",
  "rejections",
  "silent-drops",
  "stream-limits",
  "rate-limits",
] as const;
export type ComputeScenario = (typeof COMPUTE_SCENARIOS)[number];

/** How long a stream has to reach End before it counts as stalled. */
const STALL_MS = 8000;
/** How long the runner waits for something that must not come (a frame after cancel, a reply). */
const ABSENCE_MS = 400;
/** How long a reply to a request may take. */
const REPLY_MS = 3000;

export async function runComputeConformance(
  options: ComputeConformanceOptions,
): Promise<ConformanceReport> {
  const run = new ComputeRun(options);
  try {
    await run.all();
  } finally {
    await run.close();
  }
  return run.recorder.report(options.nodeId, options.only === undefined ? "FAIL" : "N/A");
}

class ComputeRun {
  readonly recorder = new Recorder("compute");
  readonly #nc: NatsConnection;
  readonly #nodeId: string;
  readonly #limits: ConformanceLimits;
  readonly #prefix: string;
  readonly #windows: number[];
  readonly #progress: (message: string) => void;
  readonly #executionIds: Partial<Record<SeedName, string>>;
  readonly #only: readonly ComputeScenario[];
  readonly #requesters: Played[] = [];
  #count = 0;

  constructor(o: ComputeConformanceOptions) {
    this.#nc = o.connection;
    this.#nodeId = o.nodeId;
    this.#limits = o.limits ?? CONFORMANCE_LIMITS;
    this.#prefix =
      o.requesterPrefix ??
      `twc${newStreamId()
        .slice(0, 6)
        .replace(/[^A-Za-z0-9]/g, "x")}`;
    this.#windows = o.windows ?? [1024, 4096, 32768];
    this.#progress = o.progress ?? (() => {});
    this.#executionIds = o.executionIds ?? {};
    this.#only = o.only ?? COMPUTE_SCENARIOS;
  }

  /** The seed's execution id on the node under test. */
  #exec(name: SeedName): string {
    return this.#executionIds[name] ?? readSeed(name).executionId;
  }

  get #maxPayload(): number {
    return this.#nc.info?.max_payload ?? 1024 * 1024;
  }

  async #requester(): Promise<Played> {
    const requester = new PlayedRequester(
      this.#nc,
      `${this.#prefix}-${++this.#count}`,
      this.#nodeId,
    );
    this.#requesters.push(requester);
    return requester.ready();
  }

  async close(): Promise<void> {
    for (const requester of this.#requesters) await requester.close();
  }

  async all(): Promise<void> {
    const scenarios: Record<ComputeScenario, () => Promise<void>> = {
      reads: () => this.reads(),
      "read-options": () => this.readOptions(),
      cancel: () => this.cancels(),
      heartbeats: () => this.heartbeats(),
      "requester-lost": () => this.requesterLost(),
      rejections: () => this.rejections(),
      "silent-drops": () => this.silentDrops(),
      "stream-limits": () => this.streamLimits(),
      "rate-limits": () => this.rateLimits(),
    };
    for (const name of COMPUTE_SCENARIOS) {
      if (!this.#only.includes(name)) continue;
      const scenario = scenarios[name];
      this.#progress(`scenario: ${name}`);
      try {
        await scenario();
      } catch (error) {
        // A scenario that breaks off leaves its rules unchecked, which fails them.
        this.#progress(
          `scenario ${name} failed: ${error instanceof Error ? error.stack : String(error)}`,
        );
      }
    }
  }

  #expect(name: SeedName): Expectation {
    const seed = readSeed(name);
    const entries = seedEntries(seed);
    return {
      entries,
      afterSeq: 0,
      lastSeq: entries.length,
      exitCode: seed.exitCode,
      maxPayload: this.#maxPayload,
    };
  }

  /** Every seed, every window, three grant thresholds up to half a window: each must reach End. */
  async reads(): Promise<void> {
    for (const name of ["basic", "long-line", "credit"] as const) {
      const seed = { ...readSeed(name), executionId: this.#exec(name) };
      const streams: PlayedStream[] = [];
      const probes: PlayedStream[] = [];
      for (const window of this.#windows) {
        const requester = await this.#requester();
        for (const threshold of new Set([1, Math.floor(window / 4), Math.floor(window / 2)])) {
          streams.push(
            requester.open(
              { executionId: seed.executionId, fields: { window } },
              { thresholdBytes: threshold },
            ),
          );
        }
        // A probe that grants nothing at first: whatever arrives beyond its window is certainly
        // over credit, whatever grants were in flight.
        if (name === "credit")
          probes.push(requester.open({ executionId: seed.executionId, fields: { window } }));
      }
      await Promise.all(
        probes.map(async (probe) => {
          // It has started sending, then stopped: at its window if it keeps to credit.
          await probe.until((x) => x.dataFrameCount > 0 || x.ended, REPLY_MS);
          await probe.quiet(300, REPLY_MS);
          this.recorder.check(
            "C-CREDIT-BOUND",
            probe.dataBytes <= probe.window,
            `${seed.executionId} window ${probe.window}, nothing granted: ${probe.dataBytes} data bytes received`,
          );
          probe.policy = { thresholdBytes: Math.floor(probe.window / 2) };
          if (probe.dataBytes > 0) probe.grant(probe.dataBytes);
        }),
      );
      streams.push(...probes);
      await Promise.all(streams.map((s) => s.until((x) => x.ended, STALL_MS)));
      for (const stream of streams) {
        const what = `${seed.executionId} window ${stream.window} grant at ${stream.policy?.thresholdBytes}`;
        if (!stream.ended) {
          this.recorder.fail(
            "C-CREDIT-NO-STALL",
            `${what}: no End after ${STALL_MS} ms: ${stream.dataFrameCount} data frames, ${stream.dataBytes} bytes received, window ${stream.window} + ${stream.granted} granted`,
          );
          stream.cancel();
        } else {
          this.recorder.pass("C-CREDIT-NO-STALL", `${what}: reached End`);
        }
        checkStream(this.recorder, stream, this.#expect(name));
      }
    }
  }

  async readOptions(): Promise<void> {
    const seed = { ...readSeed("basic"), executionId: this.#exec("basic") };
    const all = seedEntries(seed);
    const n = all.length;
    const requester = await this.#requester();
    const since = all[6]!.time;
    const cases: {
      label: string;
      fields: Record<string, unknown>;
      pick: (e: LogEntry) => boolean;
      tail?: number;
      afterSeq?: number;
    }[] = [
      { label: "tail 3", fields: { tail: 3 }, pick: () => true, tail: 3, afterSeq: n - 3 },
      {
        label: "fromSeq 4 over tail 2",
        fields: { fromSeq: 4, tail: 2 },
        pick: (e) => e.seq > 4,
        afterSeq: 4,
      },
      {
        label: "streams [stderr]",
        fields: { streams: ["stderr"] },
        pick: (e) => e.stream === "stderr",
      },
      { label: `since ${since}`, fields: { since }, pick: (e) => e.time >= since },
      {
        label: "tail 2 of stderr",
        fields: { tail: 2, streams: ["stderr"] },
        pick: (e) => e.stream === "stderr",
        tail: 2,
      },
      { label: "tail 0", fields: { tail: 0 }, pick: () => false, afterSeq: n },
      // A follow of a completed execution: the history, then End at once.
      { label: "follow, completed", fields: { follow: true }, pick: () => true, afterSeq: 0 },
      {
        label: "tail 0 and follow, completed",
        fields: { tail: 0, follow: true },
        pick: () => false,
        afterSeq: n,
      },
    ];
    const opened = cases.map((c) => ({
      c,
      stream: requester.open({ executionId: seed.executionId, fields: c.fields }),
    }));
    await Promise.all(opened.map(({ stream }) => stream.until((x) => x.ended, REPLY_MS)));
    for (const { c, stream } of opened) {
      const matching = all.filter(c.pick);
      const entries =
        c.tail === undefined ? matching : matching.slice(Math.max(0, matching.length - c.tail));
      const expectation: Expectation = {
        entries,
        lastSeq: n,
        exitCode: seed.exitCode,
        matching: (e) => c.pick(e),
        all,
        maxPayload: this.#maxPayload,
        ...(c.afterSeq === undefined ? {} : { afterSeq: c.afterSeq }),
      };
      const probe = new Recorder("compute");
      checkStream(probe, stream, expectation);
      const failures = probe
        .report(this.#nodeId)
        .results.filter(
          (r) =>
            r.outcome === "FAIL" &&
            !r.detail.startsWith("not exercised") &&
            r.id !== "C-MAX-FRAME-HALF-WINDOW",
        );
      this.recorder.check(
        "C-READ-OPTIONS",
        failures.length === 0,
        failures.length === 0
          ? `${c.label}: ${entries.length} entries as expected`
          : `${c.label}: ${failures.map((f) => `${f.id}: ${f.detail}`).join("; ")}`,
      );
      // The frames' own rules are checked too (a filtered read is where the seq column shows).
      checkStream(this.recorder, stream, expectation);
    }
  }

  /** Streams stalled on a window of 1 KiB of a long log, to be stopped in different ways. */
  async #stalled(
    requester: Played,
    count: number,
    fields: Record<string, unknown> = {},
  ): Promise<PlayedStream[]> {
    const seed = { ...readSeed("credit"), executionId: this.#exec("credit") };
    const streams: PlayedStream[] = [];
    for (let i = 0; i < count; i++) {
      streams.push(
        requester.open({ executionId: seed.executionId, fields: { window: 1024, ...fields } }),
      );
    }
    await Promise.all(
      streams.map((s) => s.until((x) => x.dataFrameCount > 0 || x.ended, REPLY_MS)),
    );
    await Promise.all(streams.map((s) => s.quiet(100, REPLY_MS)));
    return streams;
  }

  async #framesAfter(stream: PlayedStream, grant: number, within = ABSENCE_MS): Promise<number> {
    const before = stream.frames.length;
    stream.grant(grant);
    await stream.until((x) => x.frames.length > before, within);
    return stream.frames.length - before;
  }

  /**
   * Frames a stream that should be stopped still sends when granted credit. A sentinel request
   * first proves the node took in whatever stopped it (it reads our messages in order), and
   * frames it sent before that are not counted.
   */
  async #framesAfterStop(stream: PlayedStream): Promise<number> {
    await this.#sentinel(stream.requester);
    return this.#framesAfter(stream, 64 * 1024);
  }

  async cancels(): Promise<void> {
    const requester = await this.#requester();
    const stranger = await this.#requester();
    const [foreign, padded, cancelled] = await this.#stalled(requester, 3);
    // A cancel from another requester id is ignored.
    stranger.control({ cancel: [foreign!.streamId] });
    const more = await this.#framesAfter(foreign!, 64 * 1024, REPLY_MS);
    this.recorder.check(
      "C-CANCEL-FOREIGN",
      more > 0,
      more > 0
        ? "the stream went on after another requester's cancel"
        : "the stream stopped after another requester's cancel",
    );
    // A control message over 256 KiB is ignored (its cancel must not take effect).
    requester.control({ cancel: [padded!.streamId], pad: "x".repeat(300 * 1024) });
    requester.dropped.delete(padded!.streamId);
    const after = await this.#framesAfter(padded!, 64 * 1024, REPLY_MS);
    this.recorder.check(
      "C-LIMIT-CONTROL-BYTES",
      after > 0,
      after > 0
        ? "a cancel in a 300 KiB control message was ignored"
        : "a cancel in a 300 KiB control message was honoured",
    );
    // A cancel stops the stream, even when credit is granted after it.
    cancelled!.cancel();
    const late = await this.#framesAfterStop(cancelled!);
    this.recorder.check(
      "C-CANCEL",
      late === 0,
      late === 0
        ? `nothing within ${ABSENCE_MS} ms of cancel and a grant`
        : `${late} frames after cancel`,
    );
    for (const s of [foreign!, padded!]) s.cancel();
  }

  async heartbeats(): Promise<void> {
    // Long enough that a loaded machine answers every heartbeat within its timeout.
    const interval = 500;
    const requester = await this.#requester();
    const fields = { heartbeatIntervalMs: interval, heartbeatTimeoutMs: 450 };
    const [a, b] = await this.#stalled(requester, 2, fields);
    const ids = new Set([a!.streamId, b!.streamId]);
    const listsBoth = () =>
      requester.heartbeats.some(
        (h) =>
          h.heartbeat &&
          h.heartbeat.streamIds.length === 2 &&
          h.heartbeat.streamIds.every((id) => ids.has(id)),
      );
    const got = await requester.changes.until(listsBoth, interval * 4);
    // Every interval while streams are open: three beats, none more than two intervals apart
    // (lenient: the spec's jitter is 0.9 to 1 interval, and a loaded machine adds some).
    await requester.changes.until(() => requester.heartbeats.length >= 3, interval * 6);
    const times = requester.heartbeats.map((h) => h.at);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    const widest = Math.max(0, ...gaps);
    this.recorder.check(
      "C-HEARTBEAT",
      times.length >= 3 && widest <= interval * 2,
      `${times.length} heartbeats at interval ${interval} ms, widest gap ${widest} ms`,
    );
    const hb = requester.heartbeats.find((h) => h.heartbeat)?.heartbeat;
    const bad = requester.heartbeats.find(
      (h) =>
        !h.heartbeat ||
        h.subject !== subjects.heartbeat(requester.id) ||
        h.heartbeat.computeNodeId !== this.#nodeId,
    );
    this.recorder.check(
      "C-HEARTBEAT",
      got && !bad,
      !got
        ? `no heartbeat listing both open streams within ${interval * 4} ms (${requester.heartbeats.length} heartbeats)`
        : bad
          ? `bad heartbeat: ${bad.error ?? `subject ${bad.subject}, computeNodeId ${bad.heartbeat?.computeNodeId}`}`
          : `heartbeat lists ${hb?.streamIds.length} streams`,
    );
    const waiting = requester.heartbeats.filter((h) => h.heartbeat).at(-1)?.heartbeat as
      | { creditWait?: unknown }
      | undefined;
    const creditWait = Array.isArray(waiting?.creditWait) ? (waiting.creditWait as string[]) : [];
    this.recorder.check(
      "C-HEARTBEAT-CREDIT-WAIT",
      creditWait.length === 2 && creditWait.every((id) => ids.has(id)),
      `both streams wait for credit; heartbeat creditWait = ${JSON.stringify(waiting?.creditWait ?? null)}`,
    );
    // Answer a as unknown: it must stop, b must go on. A later heartbeat that no longer lists a
    // shows the node has taken the answer in (a grant racing the answer may legitimately still
    // be spent); after that, a grant must bring nothing on a.
    requester.answer = (h) =>
      h.streamIds.filter((id) => id === a!.streamId || requester.dropped.has(id));
    const beats = requester.heartbeats.length;
    const unlisted = await requester.changes.until(
      () =>
        requester.heartbeats
          .slice(beats + 1)
          .some((h) => h.heartbeat && !h.heartbeat.streamIds.includes(a!.streamId)),
      interval * 5,
    );
    const aMore = await this.#framesAfterStop(a!);
    const bMore = await this.#framesAfter(b!, 64 * 1024, REPLY_MS);
    this.recorder.check(
      "C-HEARTBEAT-UNKNOWN",
      unlisted && aMore === 0 && bMore > 0,
      `stream answered unknown: ${unlisted ? "no longer listed" : "still listed"}, ${aMore} frames after a grant; the other stream: ${bMore > 0 ? "went on" : "stopped"}`,
    );
    b!.cancel();
    // Let a beat already under way arrive, then no more may come.
    await windowOf(interval);
    const after = requester.heartbeats.length;
    await windowOf(interval * 3);
    this.recorder.check(
      "C-HEARTBEAT-ONLY-OPEN",
      requester.heartbeats.length === after,
      `${requester.heartbeats.length - after} heartbeats in ${interval * 3} ms after the last stream closed`,
    );
  }

  async requesterLost(): Promise<void> {
    const interval = 100;
    const requester = await this.#requester();
    requester.answer = () => undefined; // never answer: the requester is "dead"
    const [stream] = await this.#stalled(requester, 1, {
      heartbeatIntervalMs: interval,
      heartbeatTimeoutMs: 50,
    });
    const missed = this.#limits.maxMissedHeartbeats;
    const enough = await requester.changes.until(
      () => requester.heartbeats.length >= missed,
      interval * (missed + 3),
    );
    // Heartbeats stop once the node gave the requester up; quiet for 4 intervals.
    const stopped =
      enough &&
      (await requester.changes.quiet(
        () => requester.heartbeats.length,
        interval * 4,
        interval * 20,
      ));
    const late = await this.#framesAfterStop(stream!);
    this.recorder.check(
      "C-REQUESTER-LOST",
      enough && stopped && late === 0,
      !enough
        ? `only ${requester.heartbeats.length} heartbeats`
        : !stopped
          ? `heartbeats went on: ${requester.heartbeats.length}`
          : late > 0
            ? `${late} frames after the requester was given up`
            : `given up after ${requester.heartbeats.length} unanswered heartbeats (maxMissed ${missed}), nothing sent after`,
    );
    requester.dropped.add(stream!.streamId);
  }

  async #rejection(
    requester: Played,
    label: string,
    shape: Parameters<Played["open"]>[0],
    code: string,
    rule: string,
  ): Promise<void> {
    const stream = requester.open(shape);
    await stream.until((x) => x.frames.length > 0, REPLY_MS);
    const first = stream.frames[0]?.frame;
    const frame = first?.type === MessageType.Error ? first : undefined;
    const ok =
      frame?.type === MessageType.Error &&
      frame.n === undefined &&
      frame.code === code &&
      frame.retryable === ERROR_CODES[code as keyof typeof ERROR_CODES].retryable &&
      frame.streamId === stream.streamId;
    this.recorder.check(
      rule,
      ok,
      ok
        ? `${label}: Error ${code} without n`
        : `${label}: expected Error ${code} without n, got ${first ? JSON.stringify(first).slice(0, 200) : "nothing"}`,
    );
    if (first?.type === MessageType.Accepted) stream.cancel();
  }

  async rejections(): Promise<void> {
    const r = await this.#requester();
    const basic = this.#exec("basic");
    await this.#rejection(
      r,
      "unknown execution",
      { executionId: "conformance-missing" },
      "EXECUTION_NOT_FOUND",
      "C-REJECT-EXECUTION_NOT_FOUND",
    );
    await this.#rejection(
      r,
      "window 5",
      { executionId: basic, fields: { window: 5 } },
      "BAD_REQUEST",
      "C-REJECT-BAD_REQUEST",
    );
    await this.#rejection(
      r,
      "no follow field",
      { executionId: basic, omit: ["follow"] },
      "BAD_REQUEST",
      "C-REJECT-BAD_REQUEST",
    );
    await this.#rejection(
      r,
      "tail 1.5",
      { executionId: basic, fields: { tail: 1.5 } },
      "BAD_REQUEST",
      "C-REJECT-BAD_REQUEST",
    );
    await this.#rejection(
      r,
      "another requester's heartbeatSubject",
      { executionId: basic, fields: { heartbeatSubject: "_TW.somebody-else.hb" } },
      "BAD_REQUEST",
      "C-REJECT-BAD_REQUEST",
    );
    await this.#rejection(
      r,
      "another targetPeerId",
      { executionId: basic, fields: { targetPeerId: `${this.#nodeId}-other` } },
      "BAD_REQUEST",
      "C-REJECT-BAD_REQUEST",
    );
    await this.#rejection(
      r,
      "type ExecutionLogs.Request/v2",
      { executionId: basic, fields: { type: "ExecutionLogs.Request/v2" } },
      "UNSUPPORTED_VERSION",
      "C-REJECT-UNSUPPORTED_VERSION",
    );
    await this.#rejection(
      r,
      `tail ${this.#limits.maxTailLines + 1}`,
      { executionId: basic, fields: { tail: this.#limits.maxTailLines + 1 } },
      "TAIL_TOO_LARGE",
      "C-REJECT-TAIL_TOO_LARGE",
    );
    // A duplicate stream id while the first stream is open.
    const [open] = await this.#stalled(r, 1);
    const before = open!.frames.length;
    r.publishRequest(
      new TextEncoder().encode(
        JSON.stringify(r.requestFor({ executionId: basic, streamId: open!.streamId })),
      ),
      subjects.streamInbox(r.id, open!.streamId),
    );
    await open!.until((x) => x.frames.length > before, REPLY_MS);
    const reply = open!.frames[before]?.frame as ErrorFrame | undefined;
    const dupOk =
      reply?.type === MessageType.Error &&
      reply.n === undefined &&
      reply.code === "DUPLICATE_STREAM";
    const goesOn = dupOk && (await this.#framesAfter(open!, 64 * 1024, REPLY_MS)) > 0;
    this.recorder.check(
      "C-REJECT-DUPLICATE_STREAM",
      dupOk && goesOn,
      dupOk
        ? goesOn
          ? "Error DUPLICATE_STREAM; the open stream went on"
          : "Error DUPLICATE_STREAM, but the open stream stopped"
        : `expected Error DUPLICATE_STREAM, got ${reply ? JSON.stringify(reply).slice(0, 200) : "nothing"}`,
    );
    open!.cancel();
    // A request over the 16,384-byte bound.
    const big = r.open({ executionId: basic, fields: { pad: "x".repeat(17_000) } });
    await big.until((x) => x.frames.length > 0, ABSENCE_MS);
    const answer = big.frames[0]?.frame;
    const bigOk =
      answer === undefined ||
      (answer.type === MessageType.Error &&
        answer.code === "PAYLOAD_TOO_LARGE" &&
        answer.n === undefined);
    this.recorder.check(
      "C-LIMIT-REQUEST-BYTES",
      bigOk,
      bigOk
        ? `a 17 KB request: ${answer ? "Error PAYLOAD_TOO_LARGE" : "no reply"}`
        : `a 17 KB request got ${JSON.stringify(answer).slice(0, 200)}`,
    );
    if (answer?.type === MessageType.Accepted) big.cancel();
  }

  async silentDrops(): Promise<void> {
    const r = await this.#requester();
    const victim = await this.#requester();
    const basic = this.#exec("basic");
    // A valid request of r whose reply is the victim's inbox, or r's inbox of another stream id.
    const foreign = r.open({
      executionId: basic,
      reply: subjects.streamInbox(victim.id, newStreamId()),
    });
    const otherId = newStreamId();
    r.open({ executionId: basic, reply: subjects.streamInbox(r.id, otherId) });
    // And one without any reply subject.
    r.publishRequest(
      new TextEncoder().encode(JSON.stringify(r.requestFor({ executionId: basic }))),
      undefined,
    );
    await this.#sentinel(victim);
    const strays = victim.strays.length + r.strays.length + foreign.frames.length;
    this.recorder.check(
      "C-SILENT-FOREIGN-INBOX",
      strays === 0,
      strays === 0
        ? "requests naming a foreign inbox or another stream's inbox got no reply"
        : `${strays} replies on inboxes the requests did not own`,
    );
    // Unparsable payloads with a reply shaped like the victim's stream inbox.
    const payloads = [
      "{not json",
      "[1,2,3]",
      '"a string"',
      "null",
      JSON.stringify({
        type: "ExecutionLogs.Request/v1",
        sourcePeerId: "not a token!",
        streamId: newStreamId(),
      }),
    ];
    for (const payload of payloads)
      victim.publishRequest(
        new TextEncoder().encode(payload),
        subjects.streamInbox(victim.id, newStreamId()),
      );
    await this.#sentinel(victim);
    this.recorder.check(
      "C-SILENT-UNPARSABLE",
      victim.strays.length === 0,
      victim.strays.length === 0
        ? `${payloads.length} unparsable requests got no reply`
        : `${victim.strays.length} of ${payloads.length} unparsable requests were answered on the inbox they named (${new TextDecoder().decode(victim.strays[0]!.raw).slice(0, 120)})`,
    );
  }

  /**
   * Waits until the node answered a request sent after the ones under test (it takes its
   * request subject in order, and its answers reach us in order), then a little more: a reply to
   * an earlier request would have arrived by then, even on a loaded machine.
   */
  async #sentinel(requester: Played): Promise<void> {
    const sentinel = requester.open({ executionId: "conformance-missing" });
    await sentinel.until((x) => x.frames.length > 0, REPLY_MS);
    await windowOf(50);
  }

  async streamLimits(): Promise<void> {
    const perRequester = this.#limits.maxStreamsPerRequester;
    const k1 = await this.#requester();
    const k2 = await this.#requester();
    const k3 = await this.#requester();
    const first = await this.#stalled(k1, perRequester);
    const credit = this.#exec("credit");
    await this.#rejection(
      k1,
      `stream ${perRequester + 1} of one requester`,
      { executionId: credit, fields: { window: 1024 } },
      "TOO_MANY_REQUESTER_STREAMS",
      "C-REJECT-TOO_MANY_REQUESTER_STREAMS",
    );
    const rest = this.#limits.maxStreams - perRequester;
    const second: PlayedStream[] = [];
    for (let left = rest, who = k2; left > 0; left -= perRequester, who = await this.#requester()) {
      second.push(...(await this.#stalled(who, Math.min(perRequester, left))));
    }
    await this.#rejection(
      k3,
      `stream ${this.#limits.maxStreams + 1} of the node`,
      { executionId: credit, fields: { window: 1024 } },
      "TOO_MANY_STREAMS",
      "C-REJECT-TOO_MANY_STREAMS",
    );
    // The cancels and the next request travel on one connection, so the node takes them in order.
    for (const s of first) s.cancel();
    const again = k3.open({ executionId: credit, fields: { window: 1024 } });
    await again.until((x) => x.frames.length > 0, REPLY_MS);
    const ok = again.frames[0]?.frame?.type === MessageType.Accepted;
    this.recorder.check(
      "C-CANCEL-RELEASES",
      ok,
      ok
        ? `after cancelling ${first.length} streams a new stream was accepted`
        : `after cancelling ${first.length} streams a new request got ${JSON.stringify(again.frames[0]?.frame ?? null).slice(0, 160)}`,
    );
    for (const s of [...second, again]) s.cancel();
  }

  async rateLimits(): Promise<void> {
    const limit = this.#limits.maxRequestsPerSecondPerRequester;
    const r = await this.#requester();
    const burst = limit * 2;
    const streams = Array.from({ length: burst }, () =>
      r.open({ executionId: "conformance-missing" }),
    );
    await r.changes.until(() => streams.every((s) => s.frames.length > 0), REPLY_MS);
    const codes = streams.map((s) => (s.frames[0]?.frame as ErrorFrame | undefined)?.code);
    const limited = codes.filter((c) => c === "RATE_LIMITED").length;
    const unanswered = codes.filter((c) => c === undefined).length;
    this.recorder.check(
      "C-REJECT-RATE_LIMITED",
      limited > 0 && unanswered === 0,
      `${burst} requests at once (limit ${limit}/s): ${limited} RATE_LIMITED, ${unanswered} unanswered`,
    );
    // Node-wide: many requester ids, each under its own limit, together over the node's. A node
    // may allow bursts of up to twice its rate (PROTOCOL.md, "Message bounds"): send four times.
    await windowOf(1100); // let every token bucket refill
    const nodeLimit = this.#limits.maxRequestsPerSecond;
    const ids = Math.ceil((nodeLimit * 4) / Math.max(1, Math.floor(limit / 2)));
    const each = Math.ceil((nodeLimit * 4) / ids);
    const many: PlayedStream[] = [];
    const requesters: Played[] = [];
    for (let i = 0; i < ids; i++) requesters.push(await this.#requester());
    for (const requester of requesters)
      for (let i = 0; i < each; i++)
        many.push(requester.open({ executionId: "conformance-missing" }));
    await Promise.all(
      requesters.map((q) =>
        q.changes.until(() => [...q.streams.values()].every((s) => s.frames.length > 0), REPLY_MS),
      ),
    );
    const manyLimited = many.filter(
      (s) => (s.frames[0]?.frame as ErrorFrame | undefined)?.code === "RATE_LIMITED",
    ).length;
    this.recorder.check(
      "C-REJECT-RATE_LIMITED-NODE",
      manyLimited > 0,
      `${many.length} requests from ${ids} requester ids (${each} each, node limit ${nodeLimit}/s): ${manyLimited} RATE_LIMITED`,
    );
  }
}
