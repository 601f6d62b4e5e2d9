// Requester-mode scenarios: what the played compute node serves for each of the kit's executions
// (a plain read, a gap, a duplicate, heartbeat questions, an omitted stream, a resume storm, a
// stream to cancel) and the checks of how the requester under test reacts to each.
import { Buffer } from "node:buffer";
import { type LogEntry, newStreamId } from "@tailwire/protocol";
import { REQUESTER_EXECUTIONS as X } from "../profile.js";
import type { Recorder } from "../report.js";
import { readSeed, seedEntries } from "../seeds.js";
import { windowOf } from "../waiter.js";
import type { PlayedComputeNode } from "./played-compute-node.js";
import type { Served } from "./served-stream.js";

/** A resume storm: more requests than this for one execution broken the same way. */
const STORM_CAP = 10;
/** No new request for the storm execution for this long (plus the grace): the requester stopped. */
const STORM_QUIET_MS = 3000;
/** How long after a twist (gap, duplicate, omission) the requester has to react. */
const REACT_MS = 3000;

export class RequesterScenarios {
  readonly #node: PlayedComputeNode;
  readonly #recorder: Recorder;
  /** How long after acceptance a stream the heartbeat omits is held against it. */
  readonly #graceMs: number;
  readonly #progress: (message: string) => void;
  readonly #done = new Set<string>();

  constructor(
    node: PlayedComputeNode,
    recorder: Recorder,
    graceMs: number,
    progress: (message: string) => void,
  ) {
    this.#node = node;
    this.#recorder = recorder;
    this.#graceMs = graceMs;
    this.#progress = progress;
  }

  /** The execution's scenario has finished (its rules are checked). */
  isDone(executionId: string): boolean {
    return this.#done.has(executionId);
  }

  #finish(executionId: string): void {
    this.#done.add(executionId);
    this.#progress(`done: ${executionId}`);
    this.#node.changes.notify();
  }

  /**
   * Serves one request; `attempt` counts its execution's requests: the first gets the execution's
   * twist, a resume after a twist a plain read to End.
   */
  async serve(served: Served, attempt: number): Promise<void> {
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
      this.#node.refuse(served, `no logs for execution ${id} on ${this.#node.nodeId}`);
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
    this.#node.accept(served, from, all.length);
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
    if (await this.#node.send(served, entries)) {
      this.#node.end(served, all.length, seed.exitCode);
      if (
        id === X.longLine &&
        served.granted > 0 &&
        all.some((e) => Buffer.byteLength(e.line) > request.window)
      ) {
        this.#recorder.pass(
          "R-CREDIT-PARTIAL",
          `a line of ${Math.max(...all.map((e) => Buffer.byteLength(e.line)))} bytes through a window of ${request.window}`,
        );
      } else if (id === X.longLine) {
        this.#recorder.pass(
          "R-CREDIT-PARTIAL",
          `the long line fit the window of ${request.window} (use a window below 100 KB to check this rule)`,
        );
      }
      this.#recorder.pass(
        "R-CREDIT",
        `${id}: ${served.sent} bytes through a window of ${request.window} (${served.granted} granted)`,
      );
      this.#recorder.pass(
        "R-STREAM-COMPLETES",
        `${id}${attempt > 1 ? ` (attempt ${attempt}, fromSeq ${request.fromSeq})` : ""}: served to End`,
      );
      // A twisted execution's resume ends here; its scenario finishes it.
      if (attempt === 1) this.#finish(id);
    } else if (!served.cancelled) {
      // Stalled on credit (R-CREDIT failed): the scenario is over.
      this.#node.release(served);
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
    const cancelled = await this.#node.changes.until(() => served.cancelled, REACT_MS);
    // A resume, if the requester resumes, comes with or after the cancel.
    const resumed = await this.#node.changes.until(
      () => this.#node.requestsOf(id).length > 1,
      REACT_MS,
    );
    const resume = this.#node.requestsOf(id)[1];
    const fromOk = !resumed || resume?.request.fromSeq === lastGood;
    this.#recorder.check(
      rule,
      cancelled && fromOk,
      !cancelled
        ? `${label}: no cancel within ${REACT_MS} ms`
        : !fromOk
          ? `${label}: resumed with fromSeq ${resume?.request.fromSeq}, expected ${lastGood}`
          : `${label}: cancelled${resumed ? `, resumed with fromSeq ${lastGood}` : ", not resumed"}`,
    );
    if (!served.ended) this.#node.release(served);
    if (resumed && resume)
      await this.#node.changes.until(() => resume.ended || resume.cancelled, REACT_MS * 3);
    this.#finish(id);
  }

  async #gapOrDuplicate(served: Served, entries: LogEntry[], gap: boolean): Promise<void> {
    // Two frames of two entries, then the twist.
    const first = entries.slice(0, 4);
    if (!(await this.#node.send(served, first, 2))) return;
    const lastGood = served.lastSeqSent;
    if (gap) {
      served.skipFrameNumber(); // frame number 3 is never sent
      await this.#node.send(served, entries.slice(4, 6), 2);
    } else {
      served.repeatFrameNumber(); // frame number 2 again, with the same entries
      await this.#node.send(served, entries.slice(2, 4), 2);
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
    if (!(await this.#node.send(served, entries))) return;
    const link = this.#node.linkOf(served);
    const fabricated = newStreamId();
    const listed = [...link.openIds(), fabricated];
    const first = await this.#node.heartbeat(link, listed);
    // Other listed streams may be ending on the requester's side at this moment (it may call
    // them unknown); the open stream of this scenario and the id never opened are certain.
    const ok1 =
      first !== undefined &&
      first.requesterNodeId === link.requesterNodeId &&
      first.unknownStreamIds.includes(fabricated) &&
      !first.unknownStreamIds.includes(served.streamId) &&
      first.unknownStreamIds.every((id) => listed.includes(id));
    this.#recorder.check(
      "R-HEARTBEAT-ANSWER",
      ok1,
      first === undefined
        ? "no answer to a heartbeat"
        : `listed ${listed.length} (one never opened): answered requesterNodeId ${first.requesterNodeId}, the id never opened ${first.unknownStreamIds.includes(fabricated) ? "unknown" : "NOT unknown"}, the open stream ${first.unknownStreamIds.includes(served.streamId) ? "unknown" : "known"}`,
    );
    this.#node.end(served, lastSeq, exitCode);
    await windowOf(50); // the End reaches the requester before the next question
    const second = await this.#node.heartbeat(link, [...link.openIds(), served.streamId]);
    const ok2 = second?.unknownStreamIds.includes(served.streamId) === true;
    this.#recorder.check(
      "R-HEARTBEAT-ANSWER",
      ok2,
      second === undefined
        ? "no answer to a heartbeat"
        : `a stream that ended: ${ok2 ? "answered unknown" : `not answered unknown (${JSON.stringify(second.unknownStreamIds)})`}`,
    );
    this.#finish(X.heartbeat);
  }

  async #reconcile(served: Served, entries: LogEntry[]): Promise<void> {
    if (!(await this.#node.send(served, entries.slice(0, 3)))) return;
    const lastGood = served.lastSeqSent;
    const grace = this.#graceMs;
    await windowOf(Math.max(0, served.acceptedAt + grace + 100 - Date.now()));
    const link = this.#node.linkOf(served);
    link.omit(served.streamId);
    // The next heartbeat leaves the stream out; the requester must break it.
    await this.#node.heartbeat(link, link.listed());
    await this.#awaitReaction(served, "R-RECONCILE", "a heartbeat omitted the stream", lastGood);
  }

  /**
   * Every attempt of the storm execution is accepted, gets the log's three lines it has not
   * received, and is left out of the heartbeats once its grace has passed. The requester breaks
   * it each time; it may resume, but not forever. Past STORM_CAP requests the runner refuses.
   */
  async #storm(served: Served, attempt: number): Promise<void> {
    if (attempt > STORM_CAP) {
      this.#node.refuse(
        served,
        `the conformance runner stops a resume storm after ${STORM_CAP} requests`,
      );
      return;
    }
    const all = seedEntries(readSeed("basic")).slice(0, 3);
    const from = served.request.fromSeq ?? 0;
    this.#node.accept(served, from, all.length);
    if (attempt === 1) this.#node.track(this.#watchStorm(), "a scenario");
    if (
      !(await this.#node.send(
        served,
        all.filter((e) => e.seq > from),
      ))
    )
      return;
    const grace = this.#graceMs;
    await windowOf(Math.max(0, served.acceptedAt + grace + 100 - Date.now()));
    if (!served.cancelled && !served.ended) this.#node.linkOf(served).omit(served.streamId);
  }

  /** The storm is over once no request for it came for a while (longer than any sane backoff). */
  async #watchStorm(): Promise<void> {
    const count = () => this.#node.requestsOf(X.resumeStorm).length;
    const quietMs = this.#graceMs + STORM_QUIET_MS;
    await this.#node.changes.quiet(count, quietMs, 120_000);
    const n = count();
    this.#recorder.check(
      "R-RESUME-BOUNDED",
      n <= STORM_CAP,
      n <= STORM_CAP
        ? `${n} requests for a stream every heartbeat omitted, then the requester stopped`
        : `more than ${STORM_CAP} requests for a stream every heartbeat omitted (a resume storm)`,
    );
    for (const served of this.#node.requestsOf(X.resumeStorm)) {
      if (!served.ended && !served.cancelled) this.#node.release(served);
    }
    this.#finish(X.resumeStorm);
  }

  async #cancelScenario(served: Served, entries: LogEntry[]): Promise<void> {
    for (const entry of entries) {
      if (served.cancelled || this.#node.closed) break;
      if (!(await this.#node.send(served, [{ ...entry, time: Date.now() }]))) break;
      await this.#node.changes.until(() => served.cancelled, 20);
    }
    this.#recorder.check(
      "R-CANCEL",
      served.cancelled,
      served.cancelled ? `cancelled after ${served.lastSeqSent} lines` : "never cancelled",
    );
    if (!served.ended) this.#node.release(served);
    this.#finish(X.cancel);
  }
}
