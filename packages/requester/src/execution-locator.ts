// Finding the compute node that holds an execution (or a job's executions) without naming it:
// the ExecutionLocator interface and its default over core NATS (PROTOCOL.md, "Locating
// executions").
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import {
  CancelledError,
  decodeLocateAnswer,
  decodeLocateAnswerV2,
  encode,
  encodeV2,
  type Logger,
  locateSubjects,
  MessageType,
  MessageTypeV2,
  newStreamId,
  type ProtocolVersion,
  parseRequesterSubjectV2,
  silentLogger,
  streamIdOfInbox,
  subjectsV2,
  type LocatedExecution as WireLocatedExecution,
} from "@tailwire/protocol";
import { integerOption } from "@tailwire/protocol/internal";

/** One execution a compute node says it holds. */
export interface LocatedExecution extends WireLocatedExecution {
  computeNodeId: string;
}

export interface LocateOptions {
  signal?: AbortSignal | undefined;
}

/**
 * Where executions are. The default asks the compute nodes over NATS; an orchestrator that
 * already knows where its executions run (it has a job store) passes its own to
 * `LogStreamClient({ locator })`.
 */
export interface ExecutionLocator {
  /** Every compute node holding this execution id (normally one; none = not found). */
  locateExecution(executionId: string, options?: LocateOptions): Promise<LocatedExecution[]>;
  /** Every execution of this job, on every compute node that holds one. */
  locateJob(jobId: string, options?: LocateOptions): Promise<LocatedExecution[]>;
  /** Forget what is cached about an execution (its stream found it gone). */
  forget?(executionId: string): void;
}

export interface NatsExecutionLocatorOptions {
  connection: NatsConnection;
  /** The requester's node id: answers come back on `_TW.<id>.l.<lookupId>`. */
  requesterNodeId: string;
  /** How long to keep gathering answers after the first one (other holders; default 100 ms). */
  gatherMs?: number;
  /** Longest wait for a first answer (default 2 000 ms); then the lookup found nothing. */
  timeoutMs?: number;
  /** How long a found execution's node is remembered (default 30 s; 0 = never cached). */
  cacheTtlMs?: number;
  /**
   * The wire versions to ask in (default both, as a requester with protocol "auto" does during
   * an upgrade: a lookup goes out in each, answers are merged, and it found nothing only when
   * every version said so). In v2 an answer's compute id is its subject's: its login's.
   */
  versions?: readonly ProtocolVersion[];
  logger?: Logger;
}

interface Lookup {
  found: LocatedExecution[];
  /** Versions asked that have not said "no responders" yet. */
  pending: number;
  finish: () => void;
  /** The first answer arrived: gather a little longer. */
  answered: () => void;
}

/** NATS status code of "no responders": no compute node holds what was asked. */
const NO_RESPONDERS = 503;

/**
 * Lookups over core NATS: one publish on the locate subject of the id; only compute nodes that
 * hold it are subscribed there, so the cost does not grow with the nodes that do not, and when
 * none does NATS answers "no responders" at once. Answers are gathered for `gatherMs` after the
 * first (another node may hold the same id). Found executions are cached for `cacheTtlMs`.
 */
export class NatsExecutionLocator implements ExecutionLocator {
  readonly #nc: NatsConnection;
  readonly #requesterNodeId: string;
  readonly #gatherMs: number;
  readonly #timeoutMs: number;
  readonly #cacheTtlMs: number;
  readonly #log: Logger;
  readonly #versions: readonly ProtocolVersion[];
  readonly #lookups = new Map<string, Lookup>();
  readonly #cache = new Map<string, { found: LocatedExecution[]; until: number }>();
  #subs: Subscription[] = [];

  constructor(options: NatsExecutionLocatorOptions) {
    this.#nc = options.connection;
    this.#requesterNodeId = options.requesterNodeId;
    this.#gatherMs = integerOption("gatherMs", options.gatherMs ?? 100, 0);
    this.#timeoutMs = integerOption("timeoutMs", options.timeoutMs ?? 2_000, 0);
    this.#cacheTtlMs = integerOption("cacheTtlMs", options.cacheTtlMs ?? 30_000, 0);
    this.#log = options.logger ?? silentLogger;
    this.#versions = options.versions ?? ["v1", "v2"];
    locateSubjects.replyWildcard(this.#requesterNodeId); // throws for an invalid id
  }

  async locateExecution(
    executionId: string,
    options: LocateOptions = {},
  ): Promise<LocatedExecution[]> {
    const cached = this.#cache.get(executionId);
    if (cached && cached.until > performance.now()) return cached.found;
    const found = await this.#lookup({ executionId }, options.signal);
    // Only what was asked: an answer about another execution is nobody's business here.
    const mine = found.filter((e) => e.executionId === executionId);
    if (mine.length > 0 && this.#cacheTtlMs > 0) {
      this.#cache.set(executionId, { found: mine, until: performance.now() + this.#cacheTtlMs });
    }
    return mine;
  }

  async locateJob(jobId: string, options: LocateOptions = {}): Promise<LocatedExecution[]> {
    const found = await this.#lookup({ jobId }, options.signal);
    return found.filter((e) => e.jobId === jobId);
  }

  forget(executionId: string): void {
    this.#cache.delete(executionId);
  }

  /** Stops listening for answers; lookups in flight resolve with what they have. */
  close(): void {
    for (const lookup of [...this.#lookups.values()]) lookup.finish();
    for (const sub of this.#subs.splice(0)) sub.unsubscribe();
  }

  #lookup(
    asked: { executionId: string } | { jobId: string },
    signal: AbortSignal | undefined,
  ): Promise<LocatedExecution[]> {
    if (signal?.aborted) return Promise.reject(new CancelledError("the lookup was aborted"));
    this.#subscribe();
    const lookupId = newStreamId();
    return new Promise<LocatedExecution[]>((resolve, reject) => {
      let gatherTimer: NodeJS.Timeout | undefined;
      const finish = (error?: Error) => {
        clearTimeout(deadline);
        clearTimeout(gatherTimer);
        signal?.removeEventListener("abort", onAbort);
        this.#lookups.delete(lookupId);
        if (error) reject(error);
        else resolve(lookup.found);
      };
      const onAbort = () => finish(new CancelledError("the lookup was aborted"));
      const deadline = setTimeout(() => finish(), this.#timeoutMs);
      const lookup: Lookup = {
        found: [],
        pending: this.#versions.length,
        finish: () => finish(),
        answered: () => {
          if (gatherTimer === undefined) gatherTimer = setTimeout(() => finish(), this.#gatherMs);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#lookups.set(lookupId, lookup);
      const id = this.#requesterNodeId;
      try {
        if (this.#versions.includes("v1")) {
          const subject =
            "executionId" in asked
              ? locateSubjects.execution(asked.executionId)
              : locateSubjects.job(asked.jobId);
          this.#nc.publish(
            subject,
            encode({ type: MessageType.Locate, sourcePeerId: id, ...asked }),
            { reply: locateSubjects.reply(id, lookupId) },
          );
        }
        if (this.#versions.includes("v2")) {
          const subject =
            "executionId" in asked
              ? subjectsV2.locateExecution(id, asked.executionId)
              : subjectsV2.locateJob(id, asked.jobId);
          this.#nc.publish(subject, encodeV2({ type: MessageTypeV2.Locate, lookupId, ...asked }), {
            reply: subjectsV2.locateReply(id, lookupId),
          });
        }
      } catch (error) {
        finish(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  #subscribe(): void {
    if (this.#subs.length > 0) return;
    const id = this.#requesterNodeId;
    const on = (subject: string, handle: (msg: Msg) => void) =>
      this.#nc.subscribe(subject, {
        callback: (error, msg) => {
          if (error) this.#log.warn({ err: error }, "lookup subscription failed");
          else handle(msg);
        },
      });
    if (this.#versions.includes("v1")) {
      this.#subs.push(on(locateSubjects.replyWildcard(id), (msg) => this.#onAnswer(msg)));
    }
    if (this.#versions.includes("v2")) {
      this.#subs.push(on(subjectsV2.locateAnswerWildcard(id), (msg) => this.#onAnswerV2(msg)));
    }
  }

  #onAnswer(msg: Msg): void {
    const lookup = this.#lookups.get(streamIdOfInbox(msg.subject));
    if (!lookup) return; // late, or a stranger's
    if ((msg.headers?.code ?? 0) === NO_RESPONDERS) {
      this.#nobody(lookup);
      return;
    }
    try {
      const answer = decodeLocateAnswer(msg.data);
      this.#found(lookup, answer.computeNodeId, answer.executions);
    } catch (error) {
      this.#log.warn({ err: error }, "ignored an invalid lookup answer");
    }
  }

  /** A v2 answer names its compute node by its subject (`_TW.<id>.v2.<computeNodeId>.l.…`). */
  #onAnswerV2(msg: Msg): void {
    const from = parseRequesterSubjectV2(msg.subject);
    const lookup = from?.kind === "l" ? this.#lookups.get(from.id) : undefined;
    if (!lookup || !from) return;
    if (from.computeNodeId === "$") {
      // Only NATS's "no responders" belongs here (no compute node may publish on it).
      if ((msg.headers?.code ?? 0) === NO_RESPONDERS) this.#nobody(lookup);
      return;
    }
    try {
      this.#found(lookup, from.computeNodeId, decodeLocateAnswerV2(msg.data).executions);
    } catch (error) {
      this.#log.warn({ err: error }, "ignored an invalid lookup answer");
    }
  }

  /** One version said nobody holds it: the lookup is over once every version said so. */
  #nobody(lookup: Lookup): void {
    lookup.pending--;
    if (lookup.pending <= 0 && lookup.found.length === 0) lookup.finish();
  }

  #found(lookup: Lookup, computeNodeId: string, executions: WireLocatedExecution[]): void {
    for (const e of executions) {
      // One entry per (node, execution): a node answering twice (or in both versions) counts once.
      if (
        !lookup.found.some(
          (f) => f.computeNodeId === computeNodeId && f.executionId === e.executionId,
        )
      ) {
        lookup.found.push({ ...e, computeNodeId });
      }
    }
    lookup.answered();
  }
}
