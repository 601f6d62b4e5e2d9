// Requester mode: the runner plays a compute node serving the kit's executions, and checks what
// the requester under test does: its requests, credit grants, heartbeat answers, cancels, and how
// it reacts to a gap, a duplicate and a stream a heartbeat no longer lists.
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import {
  decodeControl,
  decodeHeartbeatResponse,
  decodeRequest,
  encode,
  encodeDataFrame,
  type LogEntry,
  type LogRequest,
  MessageType,
  newStreamId,
  subjects,
  tryDecode,
} from "@tailwire/protocol";
import { REQUESTER_EXECUTIONS } from "../profile.js";
import { type ConformanceReport, Recorder } from "../report.js";
import { readSeed, readSeeds, seedEntries } from "../seeds.js";
import { Changes, windowOf } from "../waiter.js";
import { packFrames } from "./frame-packer.js";

export interface RequesterConformanceOptions {
  connection: NatsConnection;
  /** The compute node id the runner plays: point the requester under test at it. */
  nodeId: string;
  /** Executions the requester under test will read (default: every one of REQUESTER_EXECUTIONS). */
  executions?: string[];
  /** The run ends when every execution was served to its end, or after this (default 120 s). */
  timeoutMs?: number;
  /** How long after acceptance a stream the heartbeat omits is held against it (default 1000). */
  reconcileGraceMs?: number;
  signal?: AbortSignal;
  progress?: (message: string) => void;
}

/** How long the runner waits for a grant before it calls a stream stalled. */
const CREDIT_WAIT_MS = 3000;
/** A resume storm: more requests than this for one execution broken the same way. */
const STORM_CAP = 10;
/** No new request for the storm execution for this long (plus the grace): the requester stopped. */
const STORM_QUIET_MS = 3000;
/** How long after a twist (gap, duplicate, omission) the requester has to react. */
const REACT_MS = 3000;

const X = REQUESTER_EXECUTIONS;
/** The byte bounds of a request and a control message (PROTOCOL.md, SECURITY.md). */
const MAX_REQUEST_BYTES = 16_384;
const MAX_CONTROL_BYTES = 256 * 1024;

class Served {
  readonly request: LogRequest;
  readonly reply: string;
  n = 0;
  sent = 0;
  granted = 0;
  cancelled = false;
  ended = false;
  acceptedAt = 0;
  lastSeqSent = 0;
  /** Data is ready but the credit is spent: listed in the heartbeat's creditWait. */
  waitingForCredit = false;

  constructor(request: LogRequest, reply: string) {
    this.request = request;
    this.reply = reply;
  }

  get streamId(): string {
    return this.request.streamId;
  }

  get maxFrameBytes(): number {
    return Math.min(64 * 1024, Math.floor(this.request.window / 2));
  }

  get credit(): number {
    return this.request.window + this.granted - this.sent;
  }
}

/** Per requester (sourcePeerId): its open streams and the heartbeat timer. */
class Link {
  readonly requesterNodeId: string;
  readonly heartbeatSubject: string;
  readonly open = new Map<string, Served>();
  /** Streams that heartbeats leave out (the reconciliation scenario). */
  readonly omit = new Set<string>();
  timer: NodeJS.Timeout | undefined;

  constructor(requesterNodeId: string, heartbeatSubject: string) {
    this.requesterNodeId = requesterNodeId;
    this.heartbeatSubject = heartbeatSubject;
  }

  get intervalMs(): number {
    let interval = 5000;
    for (const s of this.open.values())
      interval = Math.min(interval, s.request.heartbeatIntervalMs);
    return interval;
  }
}

export async function runRequesterConformance(
  options: RequesterConformanceOptions,
): Promise<ConformanceReport> {
  const node = new PlayedComputeNode(options);
  try {
    await node.run();
  } finally {
    node.close();
  }
  // With a chosen subset of executions, the rules of the others were not run (N/A).
  return node.recorder.report(options.nodeId, options.executions ? "N/A" : "FAIL");
}

class PlayedComputeNode {
  readonly recorder = new Recorder("requester");
  readonly #nc: NatsConnection;
  readonly #nodeId: string;
  readonly #options: RequesterConformanceOptions;
  readonly #changes = new Changes();
  readonly #links = new Map<string, Link>();
  /** Every stream by id, open or not (controls may name ended ones). */
  readonly #streams = new Map<string, Served>();
  /** Requests per execution, in order. */
  readonly #requests = new Map<string, Served[]>();
  readonly #done = new Set<string>();
  readonly #expected: string[];
  readonly #tasks = new Set<Promise<void>>();
  #subs: Subscription[] = [];
  #closed = false;

  constructor(options: RequesterConformanceOptions) {
    this.#options = options;
    this.#nc = options.connection;
    this.#nodeId = options.nodeId;
    this.#expected = options.executions ?? Object.values(X);
  }

  #progress(message: string): void {
    this.#options.progress?.(message);
  }

  async run(): Promise<void> {
    this.#subs = [
      this.#nc.subscribe(subjects.request(this.#nodeId), {
        callback: (_e, msg) => this.#onRequest(msg),
      }),
      this.#nc.subscribe(subjects.control(this.#nodeId), {
        callback: (_e, msg) => this.#onControl(msg),
      }),
    ];
    await this.#nc.flush();
    for (const seed of readSeeds()) {
      const digest = seed.entries.map((e) =>
        createHash("sha256").update(e.line).digest("hex").slice(0, 16),
      );
      const longest = seed.entries.reduce(
        (i, e, k, all) => (e.line.length > all[i]!.line.length ? k : i),
        0,
      );
      this.#progress(
        `serving ${seed.executionId}: ${seed.entries.length} lines; line ${longest + 1} sha256 ${digest[longest]}`,
      );
    }
    const timeoutMs = this.#options.timeoutMs ?? 120_000;
    const signal = this.#options.signal;
    const aborted = () => signal?.aborted === true;
    signal?.addEventListener("abort", () => this.#changes.notify(), { once: true });
    await this.#changes.until(
      () => aborted() || this.#expected.every((id) => this.#done.has(id)),
      timeoutMs,
    );
    await Promise.allSettled([...this.#tasks]);
    for (const id of this.#expected) {
      if (this.#done.has(id)) continue;
      const requested = this.#requests.has(id);
      const why = requested
        ? `execution ${id} was requested but its scenario did not finish`
        : `execution ${id} was never requested`;
      this.recorder.fail(this.#ruleOf(id), why);
    }
  }

  close(): void {
    this.#closed = true;
    for (const sub of this.#subs) sub.unsubscribe();
    for (const link of this.#links.values()) clearTimeout(link.timer);
    this.#changes.notify();
  }

  #ruleOf(executionId: string): string {
    switch (executionId) {
      case X.gap:
        return "R-GAP";
      case X.duplicate:
        return "R-DUPLICATE";
      case X.heartbeat:
        return "R-HEARTBEAT-ANSWER";
      case X.reconcile:
        return "R-RECONCILE";
      case X.cancel:
        return "R-CANCEL";
      case X.resumeStorm:
        return "R-RESUME-BOUNDED";
      default:
        return "R-STREAM-COMPLETES";
    }
  }

  #finish(executionId: string): void {
    this.#done.add(executionId);
    this.#progress(`done: ${executionId}`);
    this.#changes.notify();
  }

  // ---- requests --------------------------------------------------------------------------

  #onRequest(msg: Msg): void {
    const decoded = tryDecode(decodeRequest, msg.data);
    if (!decoded.ok) {
      this.recorder.fail(
        "R-REQUEST",
        `a request did not decode: ${decoded.error.code}: ${decoded.error.message}`,
      );
      return;
    }
    const request = decoded.value;
    const problems: string[] = [];
    if (msg.data.byteLength > MAX_REQUEST_BYTES)
      problems.push(`${msg.data.byteLength} bytes, over the bound of ${MAX_REQUEST_BYTES}`);
    const inbox = subjects.streamInbox(request.sourcePeerId, request.streamId);
    if (request.targetPeerId !== this.#nodeId)
      problems.push(`targetPeerId ${request.targetPeerId}`);
    if (msg.reply !== inbox)
      problems.push(`reply subject ${msg.reply ?? "none"}, expected ${inbox}`);
    if (request.heartbeatSubject !== subjects.heartbeat(request.sourcePeerId))
      problems.push(`heartbeatSubject ${request.heartbeatSubject}`);
    if (this.#streams.has(request.streamId))
      problems.push(`stream id ${request.streamId} used again`);
    const what = `request for ${request.executionId}`;
    this.recorder.check(
      "R-REQUEST",
      problems.length === 0,
      problems.length
        ? `${what}: ${problems.join("; ")}`
        : `${what}: fields and subjects as specified`,
    );
    if (request.heartbeatTimeoutMs !== undefined) {
      this.recorder.check(
        "R-REQUEST-HEARTBEAT-TIMEOUT",
        request.heartbeatTimeoutMs < request.heartbeatIntervalMs,
        `${what}: heartbeatTimeoutMs ${request.heartbeatTimeoutMs}, heartbeatIntervalMs ${request.heartbeatIntervalMs}`,
      );
    }
    if (problems.length > 0 || !msg.reply) return;
    const served = new Served(request, inbox);
    this.#streams.set(served.streamId, served);
    const list = this.#requests.get(request.executionId) ?? [];
    list.push(served);
    this.#requests.set(request.executionId, list);
    this.#changes.notify();
    const task = this.#serve(served, list.length).catch((error: unknown) => {
      this.#progress(
        `serving ${request.executionId} failed: ${error instanceof Error ? error.stack : String(error)}`,
      );
    });
    this.#tasks.add(task);
    void task.finally(() => this.#tasks.delete(task));
  }

  #publish(served: Served, frame: Parameters<typeof encode>[0]): void {
    this.#nc.publish(served.reply, encode(frame));
  }

  #accept(served: Served, afterSeq: number, lastSeq: number): void {
    this.#publish(served, {
      type: MessageType.Accepted,
      streamId: served.streamId,
      n: 0,
      computeNodeId: this.#nodeId,
      afterSeq,
      lastSeq,
      maxFrameBytes: served.maxFrameBytes,
    });
    served.n = 1;
    served.acceptedAt = Date.now();
    this.#link(served).open.set(served.streamId, served);
    this.#schedule(this.#link(served));
  }

  #end(served: Served, lastSeq: number, exitCode: number | null): void {
    if (served.cancelled || served.ended) return;
    this.#publish(served, {
      type: MessageType.End,
      streamId: served.streamId,
      n: served.n++,
      lastSeq,
      exitCode,
    });
    this.#release(served);
  }

  #release(served: Served): void {
    served.ended = true;
    this.#links.get(served.request.sourcePeerId)?.open.delete(served.streamId);
    this.#changes.notify();
  }

  /** Sends data frames under credit; false if the stream was stopped or stalled on credit. */
  async #send(served: Served, entries: LogEntry[], maxEntries?: number): Promise<boolean> {
    const frames = packFrames(served.streamId, entries, served.maxFrameBytes, maxEntries);
    for (const frame of frames) {
      const bytes = encodeDataFrame(served.streamId, served.n, frame.entries, frame.partial);
      if (served.credit < bytes.byteLength) {
        served.waitingForCredit = true;
        const got = await this.#changes.until(
          () =>
            served.cancelled || served.ended || this.#closed || served.credit >= bytes.byteLength,
          CREDIT_WAIT_MS,
        );
        served.waitingForCredit = false;
        if (served.cancelled || served.ended || this.#closed) return false;
        if (!got) {
          this.recorder.fail(
            "R-CREDIT",
            `${served.request.executionId}: stalled for ${CREDIT_WAIT_MS} ms: ${served.sent} bytes sent, window ${served.request.window} + ${served.granted} granted, next frame ${bytes.byteLength} bytes`,
          );
          return false;
        }
      }
      if (served.cancelled || served.ended) return false;
      this.#nc.publish(served.reply, bytes);
      served.n++;
      served.sent += bytes.byteLength;
      served.lastSeqSent = frame.entries.at(-1)!.seq;
    }
    return true;
  }

  async #serve(served: Served, attempt: number): Promise<void> {
    const request = served.request;
    const id = request.executionId;
    const seedOf: Record<string, "basic" | "long-line" | "credit"> = {
      [X.basic]: "basic",
      [X.longLine]: "long-line",
      [X.credit]: "credit",
      [X.gap]: "basic",
      [X.duplicate]: "basic",
      [X.heartbeat]: "basic",
      [X.reconcile]: "basic",
      [X.cancel]: "credit",
    };
    if (id === X.resumeStorm) return this.#storm(served, attempt);
    const name = seedOf[id];
    if (!name) {
      this.#publish(served, {
        type: MessageType.Error,
        streamId: served.streamId,
        code: "EXECUTION_NOT_FOUND",
        message: `no logs for execution ${id} on ${this.#nodeId}`,
        retryable: false,
      });
      return;
    }
    const seed = readSeed(name);
    const all = seedEntries(seed);
    const from =
      request.fromSeq ?? (request.tail !== undefined ? Math.max(0, all.length - request.tail) : 0);
    const entries = all.filter(
      (e) =>
        e.seq > from &&
        (request.streams === undefined || request.streams.includes(e.stream)) &&
        (request.since === undefined || e.time >= request.since),
    );
    this.#accept(served, from, all.length);
    const twist = attempt === 1 ? id : undefined;
    switch (twist) {
      case X.gap:
      case X.duplicate:
        return this.#gapOrDuplicate(served, entries, id === X.gap);
      case X.heartbeat:
        return this.#heartbeatScenario(served, entries, seed.exitCode, all.length);
      case X.reconcile:
        return this.#reconcile(served, entries);
      case X.cancel:
        return this.#cancelScenario(served, entries);
    }
    if (await this.#send(served, entries)) {
      this.#end(served, all.length, seed.exitCode);
      if (
        id === X.longLine &&
        served.granted > 0 &&
        all.some((e) => Buffer.byteLength(e.line) > request.window)
      ) {
        this.recorder.pass(
          "R-CREDIT-PARTIAL",
          `a line of ${Math.max(...all.map((e) => Buffer.byteLength(e.line)))} bytes through a window of ${request.window}`,
        );
      } else if (id === X.longLine) {
        this.recorder.pass(
          "R-CREDIT-PARTIAL",
          `the long line fit the window of ${request.window} (use a window below 100 KB to check this rule)`,
        );
      }
      this.recorder.pass(
        "R-CREDIT",
        `${id}: ${served.sent} bytes through a window of ${request.window} (${served.granted} granted)`,
      );
      this.recorder.pass(
        "R-STREAM-COMPLETES",
        `${id}${attempt > 1 ? ` (attempt ${attempt}, fromSeq ${request.fromSeq})` : ""}: served to End`,
      );
      // A twisted execution's resume ends here; its scenario finishes it.
      if (attempt === 1) this.#finish(id);
    } else if (!served.cancelled) {
      // Stalled on credit (R-CREDIT failed): the scenario is over.
      this.#release(served);
      this.#finish(id);
    }
  }

  async #awaitReaction(
    served: Served,
    rule: string,
    label: string,
    lastGood: number,
  ): Promise<void> {
    const id = served.request.executionId;
    const cancelled = await this.#changes.until(() => served.cancelled, REACT_MS);
    // A resume, if the requester resumes, comes with or after the cancel.
    const resumed = await this.#changes.until(
      () => (this.#requests.get(id)?.length ?? 0) > 1,
      REACT_MS,
    );
    const resume = this.#requests.get(id)?.[1];
    const fromOk = !resumed || resume?.request.fromSeq === lastGood;
    this.recorder.check(
      rule,
      cancelled && fromOk,
      !cancelled
        ? `${label}: no cancel within ${REACT_MS} ms`
        : !fromOk
          ? `${label}: resumed with fromSeq ${resume?.request.fromSeq}, expected ${lastGood}`
          : `${label}: cancelled${resumed ? `, resumed with fromSeq ${lastGood}` : ", not resumed"}`,
    );
    if (!served.ended) this.#release(served);
    if (resumed && resume)
      await this.#changes.until(() => resume.ended || resume.cancelled, REACT_MS * 3);
    this.#finish(id);
  }

  async #gapOrDuplicate(served: Served, entries: LogEntry[], gap: boolean): Promise<void> {
    // Two frames of two entries, then the twist.
    const first = entries.slice(0, 4);
    if (!(await this.#send(served, first, 2))) return;
    const lastGood = served.lastSeqSent;
    if (gap) {
      served.n++; // frame number 3 is never sent
      await this.#send(served, entries.slice(4, 6), 2);
    } else {
      served.n--; // frame number 2 again, with the same entries
      await this.#send(served, entries.slice(2, 4), 2);
    }
    await this.#awaitReaction(
      served,
      gap ? "R-GAP" : "R-DUPLICATE",
      gap ? "missing frame 3" : "frame 2 repeated",
      lastGood,
    );
  }

  async #heartbeatScenario(
    served: Served,
    entries: LogEntry[],
    exitCode: number | null,
    lastSeq: number,
  ): Promise<void> {
    if (!(await this.#send(served, entries))) return;
    const link = this.#link(served);
    const fabricated = newStreamId();
    const listed = [...link.open.keys(), fabricated];
    const first = await this.#heartbeat(link, listed);
    // Other listed streams may be ending on the requester's side at this moment (it may call
    // them unknown); the open stream of this scenario and the id never opened are certain.
    const ok1 =
      first !== undefined &&
      first.requesterNodeId === link.requesterNodeId &&
      first.unknownStreamIds.includes(fabricated) &&
      !first.unknownStreamIds.includes(served.streamId) &&
      first.unknownStreamIds.every((id) => listed.includes(id));
    this.recorder.check(
      "R-HEARTBEAT-ANSWER",
      ok1,
      first === undefined
        ? "no answer to a heartbeat"
        : `listed ${listed.length} (one never opened): answered requesterNodeId ${first.requesterNodeId}, the id never opened ${first.unknownStreamIds.includes(fabricated) ? "unknown" : "NOT unknown"}, the open stream ${first.unknownStreamIds.includes(served.streamId) ? "unknown" : "known"}`,
    );
    this.#end(served, lastSeq, exitCode);
    await windowOf(50); // the End reaches the requester before the next question
    const second = await this.#heartbeat(link, [...link.open.keys(), served.streamId]);
    const ok2 = second?.unknownStreamIds.includes(served.streamId) === true;
    this.recorder.check(
      "R-HEARTBEAT-ANSWER",
      ok2,
      second === undefined
        ? "no answer to a heartbeat"
        : `a stream that ended: ${ok2 ? "answered unknown" : `not answered unknown (${JSON.stringify(second.unknownStreamIds)})`}`,
    );
    this.#finish(X.heartbeat);
  }

  async #reconcile(served: Served, entries: LogEntry[]): Promise<void> {
    if (!(await this.#send(served, entries.slice(0, 3)))) return;
    const lastGood = served.lastSeqSent;
    const grace = this.#options.reconcileGraceMs ?? 1000;
    await windowOf(Math.max(0, served.acceptedAt + grace + 100 - Date.now()));
    const link = this.#link(served);
    link.omit.add(served.streamId);
    // The next heartbeat leaves the stream out; the requester must break it.
    await this.#heartbeat(
      link,
      [...link.open.keys()].filter((s) => !link.omit.has(s)),
    );
    await this.#awaitReaction(served, "R-RECONCILE", "a heartbeat omitted the stream", lastGood);
  }

  /**
   * Every attempt of the storm execution is accepted, gets the log's three lines it has not
   * received, and is left out of the heartbeats once its grace has passed. The requester breaks
   * it each time; it may resume, but not forever. Past STORM_CAP requests the runner refuses.
   */
  async #storm(served: Served, attempt: number): Promise<void> {
    if (attempt > STORM_CAP) {
      this.#publish(served, {
        type: MessageType.Error,
        streamId: served.streamId,
        code: "EXECUTION_NOT_FOUND",
        message: `the conformance runner stops a resume storm after ${STORM_CAP} requests`,
        retryable: false,
      });
      return;
    }
    const all = seedEntries(readSeed("basic")).slice(0, 3);
    const from = served.request.fromSeq ?? 0;
    this.#accept(served, from, all.length);
    if (attempt === 1) this.#track(this.#watchStorm());
    if (
      !(await this.#send(
        served,
        all.filter((e) => e.seq > from),
      ))
    )
      return;
    const grace = this.#options.reconcileGraceMs ?? 1000;
    await windowOf(Math.max(0, served.acceptedAt + grace + 100 - Date.now()));
    if (!served.cancelled && !served.ended) this.#link(served).omit.add(served.streamId);
  }

  /** The storm is over once no request for it came for a while (longer than any sane backoff). */
  async #watchStorm(): Promise<void> {
    const count = () => this.#requests.get(X.resumeStorm)?.length ?? 0;
    const quietMs = (this.#options.reconcileGraceMs ?? 1000) + STORM_QUIET_MS;
    await this.#changes.quiet(count, quietMs, 120_000);
    const n = count();
    this.recorder.check(
      "R-RESUME-BOUNDED",
      n <= STORM_CAP,
      n <= STORM_CAP
        ? `${n} requests for a stream every heartbeat omitted, then the requester stopped`
        : `more than ${STORM_CAP} requests for a stream every heartbeat omitted (a resume storm)`,
    );
    for (const served of this.#requests.get(X.resumeStorm) ?? []) {
      if (!served.ended && !served.cancelled) this.#release(served);
    }
    this.#finish(X.resumeStorm);
  }

  #track(task: Promise<void>): void {
    const tracked = task.catch((error: unknown) => {
      this.#progress(`a scenario failed: ${error instanceof Error ? error.stack : String(error)}`);
    });
    this.#tasks.add(tracked);
    void tracked.finally(() => this.#tasks.delete(tracked));
  }

  async #cancelScenario(served: Served, entries: LogEntry[]): Promise<void> {
    for (const entry of entries) {
      if (served.cancelled || this.#closed) break;
      if (!(await this.#send(served, [{ ...entry, time: Date.now() }]))) break;
      await this.#changes.until(() => served.cancelled, 20);
    }
    this.recorder.check(
      "R-CANCEL",
      served.cancelled,
      served.cancelled ? `cancelled after ${served.lastSeqSent} lines` : "never cancelled",
    );
    if (!served.ended) this.#release(served);
    this.#finish(X.cancel);
  }

  // ---- heartbeats -------------------------------------------------------------------------

  #link(served: Served): Link {
    const key = served.request.sourcePeerId;
    let link = this.#links.get(key);
    if (!link) {
      link = new Link(key, served.request.heartbeatSubject);
      this.#links.set(key, link);
    }
    return link;
  }

  #schedule(link: Link): void {
    if (link.timer !== undefined || this.#closed) return;
    link.timer = setTimeout(() => {
      link.timer = undefined;
      if (link.open.size === 0 || this.#closed) return;
      void this.#heartbeat(
        link,
        [...link.open.keys()].filter((s) => !link.omit.has(s)),
      );
      this.#schedule(link);
    }, link.intervalMs * 0.9);
  }

  /** One heartbeat; streams the answer names are stopped, as a compute node must. */
  async #heartbeat(
    link: Link,
    streamIds: string[],
  ): Promise<{ requesterNodeId: string; unknownStreamIds: string[] } | undefined> {
    const timeout = Math.max(50, Math.floor(link.intervalMs * 0.9));
    try {
      const reply = await this.#nc.request(
        link.heartbeatSubject,
        // creditWait is an optional field (a reader must ignore fields it does not know).
        // (Written directly: the schema on this branch does not define creditWait yet.)
        new TextEncoder().encode(
          JSON.stringify({
            type: MessageType.Heartbeat,
            computeNodeId: this.#nodeId,
            streamIds,
            creditWait: streamIds.filter((id) => link.open.get(id)?.waitingForCredit === true),
          }),
        ),
        { timeout },
      );
      const decoded = tryDecode(decodeHeartbeatResponse, reply.data);
      if (!decoded.ok) {
        this.recorder.fail(
          "R-HEARTBEAT-ANSWER",
          `a heartbeat answer did not decode: ${decoded.error.message}`,
        );
        return undefined;
      }
      for (const id of decoded.value.unknownStreamIds) {
        const served = link.open.get(id);
        if (served) {
          served.cancelled = true;
          this.#release(served);
        }
      }
      return decoded.value;
    } catch {
      return undefined;
    }
  }

  // ---- control ----------------------------------------------------------------------------

  #onControl(msg: Msg): void {
    const decoded = tryDecode(decodeControl, msg.data);
    if (!decoded.ok) {
      this.recorder.fail("R-CONTROL", `a control message did not decode: ${decoded.error.message}`);
      return;
    }
    const control = decoded.value;
    this.recorder.check(
      "R-CONTROL",
      msg.data.byteLength <= MAX_CONTROL_BYTES,
      `a control message of ${msg.data.byteLength} bytes (bound ${MAX_CONTROL_BYTES})`,
    );
    const named = [...(control.cancel ?? []), ...(control.credit ?? []).map((g) => g.streamId)];
    const foreign = named.filter((id) => {
      const s = this.#streams.get(id);
      return s !== undefined && s.request.sourcePeerId !== control.sourcePeerId;
    });
    const unknown = named.filter((id) => !this.#streams.has(id));
    this.recorder.check(
      "R-CONTROL",
      foreign.length === 0 && unknown.length === 0,
      foreign.length
        ? `names streams of another requester: ${foreign.join(", ")}`
        : unknown.length
          ? `names streams never requested: ${unknown.join(", ")}`
          : `${named.length} stream ids of ${control.sourcePeerId}`,
    );
    for (const id of control.cancel ?? []) {
      const s = this.#streams.get(id);
      if (s && s.request.sourcePeerId === control.sourcePeerId) {
        s.cancelled = true;
        if (!s.ended) this.#release(s);
      }
    }
    for (const grant of control.credit ?? []) {
      const s = this.#streams.get(grant.streamId);
      if (s && s.request.sourcePeerId === control.sourcePeerId) s.granted += grant.bytes;
    }
    this.#changes.notify();
  }
}
