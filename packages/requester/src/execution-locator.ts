// Finding the compute node that holds an execution (or a job's executions) without naming it:
// the ExecutionLocator interface and its default over core NATS (PROTOCOL.md, "Locating
// executions").
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import {
  CancelledError,
  decodeLocateAnswer,
  encode,
  type Logger,
  locateSubjects,
  MessageType,
  newStreamId,
  silentLogger,
  streamIdOfInbox,
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
  logger?: Logger;
}

interface Lookup {
  found: LocatedExecution[];
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
  readonly #lookups = new Map<string, Lookup>();
  readonly #cache = new Map<string, { found: LocatedExecution[]; until: number }>();
  #sub: Subscription | undefined;

  constructor(options: NatsExecutionLocatorOptions) {
    this.#nc = options.connection;
    this.#requesterNodeId = options.requesterNodeId;
    this.#gatherMs = integerOption("gatherMs", options.gatherMs ?? 100, 0);
    this.#timeoutMs = integerOption("timeoutMs", options.timeoutMs ?? 2_000, 0);
    this.#cacheTtlMs = integerOption("cacheTtlMs", options.cacheTtlMs ?? 30_000, 0);
    this.#log = options.logger ?? silentLogger;
    locateSubjects.replyWildcard(this.#requesterNodeId); // throws for an invalid id
  }

  async locateExecution(
    executionId: string,
    options: LocateOptions = {},
  ): Promise<LocatedExecution[]> {
    const cached = this.#cache.get(executionId);
    if (cached && cached.until > performance.now()) return cached.found;
    const found = await this.#lookup(
      locateSubjects.execution(executionId),
      { executionId },
      options.signal,
    );
    // Only what was asked: an answer about another execution is nobody's business here.
    const mine = found.filter((e) => e.executionId === executionId);
    if (mine.length > 0 && this.#cacheTtlMs > 0) {
      this.#cache.set(executionId, { found: mine, until: performance.now() + this.#cacheTtlMs });
    }
    return mine;
  }

  async locateJob(jobId: string, options: LocateOptions = {}): Promise<LocatedExecution[]> {
    const found = await this.#lookup(locateSubjects.job(jobId), { jobId }, options.signal);
    return found.filter((e) => e.jobId === jobId);
  }

  forget(executionId: string): void {
    this.#cache.delete(executionId);
  }

  /** Stops listening for answers; lookups in flight resolve with what they have. */
  close(): void {
    for (const lookup of [...this.#lookups.values()]) lookup.finish();
    this.#sub?.unsubscribe();
    this.#sub = undefined;
  }

  #lookup(
    subject: string,
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
        finish: () => finish(),
        answered: () => {
          if (gatherTimer === undefined) gatherTimer = setTimeout(() => finish(), this.#gatherMs);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#lookups.set(lookupId, lookup);
      try {
        this.#nc.publish(
          subject,
          encode({ type: MessageType.Locate, sourcePeerId: this.#requesterNodeId, ...asked }),
          { reply: locateSubjects.reply(this.#requesterNodeId, lookupId) },
        );
      } catch (error) {
        finish(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  #subscribe(): void {
    if (this.#sub) return;
    this.#sub = this.#nc.subscribe(locateSubjects.replyWildcard(this.#requesterNodeId), {
      callback: (error, msg) => {
        if (error) this.#log.warn({ err: error }, "lookup subscription failed");
        else this.#onAnswer(msg);
      },
    });
  }

  #onAnswer(msg: Msg): void {
    const lookup = this.#lookups.get(streamIdOfInbox(msg.subject));
    if (!lookup) return; // late, or a stranger's
    if ((msg.headers?.code ?? 0) === NO_RESPONDERS) {
      lookup.finish();
      return;
    }
    try {
      const answer = decodeLocateAnswer(msg.data);
      for (const e of answer.executions) {
        // One entry per (node, execution): a node answering twice counts once.
        if (
          !lookup.found.some(
            (f) => f.computeNodeId === answer.computeNodeId && f.executionId === e.executionId,
          )
        ) {
          lookup.found.push({ ...e, computeNodeId: answer.computeNodeId });
        }
      }
      lookup.answered();
    } catch (error) {
      this.#log.warn({ err: error }, "ignored an invalid lookup answer");
    }
  }
}
