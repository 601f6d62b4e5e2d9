// The moves compute-mode scenarios share: one run's requesters (each with an id of its own), the
// seeds' ids on the node under test, streams stalled on credit, grants, the sentinel request that
// proves the node took in what came before, and the check of one rejection.
import type { NatsConnection } from "@nats-io/nats-core";
import { ERROR_CODES, MessageType, newStreamId } from "@tailwire/protocol";
import { CONFORMANCE_LIMITS, type ConformanceLimits } from "../profile.js";
import { Recorder } from "../report.js";
import { readSeed, type SeedName, seedEntries } from "../seeds.js";
import { windowOf } from "../waiter.js";
import {
  type PlayedRequester as Played,
  PlayedRequester,
  type PlayedStream,
  type RequestShape,
} from "./played-requester.js";
import type { Expectation } from "./stream-checks.js";

export interface ComputeRunOptions {
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
}

/** How long a stream has to reach End before it counts as stalled. */
export const STALL_MS = 8000;
/** How long the runner waits for something that must not come (a frame after cancel, a reply). */
export const ABSENCE_MS = 400;
/** How long a reply to a request may take. */
export const REPLY_MS = 3000;

/**
 * One compute-mode run: the node under test, the requesters played against it (closed at the
 * end), the recorder, and the moves the scenarios share.
 */
export class ComputeRun {
  readonly recorder = new Recorder("compute");
  readonly nodeId: string;
  readonly limits: ConformanceLimits;
  readonly windows: number[];
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #executionIds: Partial<Record<SeedName, string>>;
  readonly #requesters: Played[] = [];
  #count = 0;

  constructor(o: ComputeRunOptions) {
    this.#nc = o.connection;
    this.nodeId = o.nodeId;
    this.limits = o.limits ?? CONFORMANCE_LIMITS;
    this.#prefix =
      o.requesterPrefix ??
      `twc${newStreamId()
        .slice(0, 6)
        .replace(/[^A-Za-z0-9]/g, "x")}`;
    this.windows = o.windows ?? [1024, 4096, 32768];
    this.#executionIds = o.executionIds ?? {};
  }

  /** The seed's execution id on the node under test. */
  exec(name: SeedName): string {
    return this.#executionIds[name] ?? readSeed(name).executionId;
  }

  get maxPayload(): number {
    return this.#nc.info?.max_payload ?? 1024 * 1024;
  }

  async requester(): Promise<Played> {
    const requester = new PlayedRequester(
      this.#nc,
      `${this.#prefix}-${++this.#count}`,
      this.nodeId,
    );
    this.#requesters.push(requester);
    return requester.ready();
  }

  async close(): Promise<void> {
    for (const requester of this.#requesters) await requester.close();
  }

  expect(name: SeedName): Expectation {
    const seed = readSeed(name);
    const entries = seedEntries(seed);
    return {
      entries,
      afterSeq: 0,
      lastSeq: entries.length,
      exitCode: seed.exitCode,
      maxPayload: this.maxPayload,
    };
  }

  /** Streams stalled on a window of 1 KiB of a long log, to be stopped in different ways. */
  async stalled(
    requester: Played,
    count: number,
    fields: Record<string, unknown> = {},
  ): Promise<PlayedStream[]> {
    const seed = { ...readSeed("credit"), executionId: this.exec("credit") };
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

  async framesAfter(stream: PlayedStream, grant: number, within = ABSENCE_MS): Promise<number> {
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
  async framesAfterStop(stream: PlayedStream): Promise<number> {
    await this.sentinel(stream.requester);
    return this.framesAfter(stream, 64 * 1024);
  }

  /** Rule C-REJECT-<code>: the request's only answer is an Error of `code`, without n. */
  async rejection(
    requester: Played,
    label: string,
    shape: RequestShape,
    code: string,
  ): Promise<void> {
    const rule = `C-REJECT-${code}`;
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

  /**
   * Waits until the node answered a request sent after the ones under test (it takes its
   * request subject in order, and its answers reach us in order), then a little more: a reply to
   * an earlier request would have arrived by then, even on a loaded machine.
   */
  async sentinel(requester: Played): Promise<void> {
    const sentinel = requester.open({ executionId: "conformance-missing" });
    await sentinel.until((x) => x.frames.length > 0, REPLY_MS);
    await windowOf(50);
  }
}
