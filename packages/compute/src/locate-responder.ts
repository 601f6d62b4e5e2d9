// The compute side of execution lookup: answers "who holds execution E / job J's executions"
// for what this node's store holds (PROTOCOL.md, "Locating executions"), in v1 and in v2 (where
// the requester is the lookup subject's and the answer's subject names this node).
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import {
  decodeLocate,
  decodeLocateV2,
  encode,
  encodeV2,
  LOCATE_SUBJECT_PREFIX_V2,
  type LocatedExecution,
  type LocateRequest,
  type Logger,
  locateSubjects,
  MAX_LOCATED_EXECUTIONS,
  MessageType,
  MessageTypeV2,
  type ProtocolVersion,
  silentLogger,
  subjectsV2,
} from "@tailwire/protocol";
import { integerOption } from "@tailwire/protocol/internal";
import type { CatalogChange, ExecutionCatalog } from "./execution-catalog.js";
import { DEFAULTS } from "./server/options.js";
import { RateLimiter } from "./server/rate-limiter.js";

export interface LocateResponderOptions {
  connection: NatsConnection;
  /** This compute node's id: what its answers say. */
  computeNodeId: string;
  catalog: ExecutionCatalog;
  logger?: Logger;
  /** Lookups answered per second, all requesters together (default 1 000, bursts of 2 000). */
  maxLookupsPerSecond?: number;
  /** The wire versions to answer lookups in (default both; the server passes its own). */
  versions?: readonly ProtocolVersion[];
}

export interface LocateResponderStats {
  /** Executions and jobs this node answers lookups for (one subscription each per version). */
  subscriptions: number;
  answered: number;
  /** Invalid lookups, lookups for another id than their subject's, foreign replies, over the rate. */
  rejected: number;
}

/**
 * Subscribes to the locate subject of every execution and every job the catalog holds, and
 * follows the catalog as executions come and go. A lookup therefore reaches only the nodes that
 * hold what it asks for; a node that holds nothing of it never sees it, and when no node holds
 * it NATS answers "no responders" at once.
 */
export class LocateResponder {
  readonly computeNodeId: string;
  readonly #nc: NatsConnection;
  readonly #catalog: ExecutionCatalog;
  readonly #log: Logger;
  readonly #rate: RateLimiter;
  readonly #maxRate: number;
  readonly #versions: readonly ProtocolVersion[];
  /** Per execution: its subscriptions, one per version answered. */
  readonly #executions = new Map<string, Subscription[]>();
  /** Per job: its subscriptions and the executions of it held here. */
  readonly #jobs = new Map<string, { subs: Subscription[]; executions: Set<string> }>();
  #stopWatching: (() => void) | undefined;
  #answered = 0;
  #rejected = 0;
  #closed = false;

  constructor(options: LocateResponderOptions) {
    this.computeNodeId = options.computeNodeId;
    this.#nc = options.connection;
    this.#catalog = options.catalog;
    this.#log = options.logger ?? silentLogger;
    this.#versions = options.versions ?? ["v1", "v2"];
    this.#maxRate = integerOption(
      "maxLookupsPerSecond",
      options.maxLookupsPerSecond ?? DEFAULTS.locate.maxLookupsPerSecond,
      1,
    );
    this.#rate = new RateLimiter(this.#maxRate, undefined, this.#maxRate * 2);
  }

  /** Subscribes for everything held now and watches for changes; resolves once the server has them. */
  async start(): Promise<void> {
    // Watch first: an execution created while the list is read is then not missed.
    this.#stopWatching = this.#catalog.watchExecutions((change) => this.#onChange(change));
    for (const { executionId, jobId } of await this.#catalog.listExecutions()) {
      this.#add(executionId, jobId);
    }
    await this.#nc.flush();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stopWatching?.();
    for (const subs of this.#executions.values()) for (const sub of subs) sub.unsubscribe();
    for (const job of this.#jobs.values()) for (const sub of job.subs) sub.unsubscribe();
    this.#executions.clear();
    this.#jobs.clear();
  }

  stats(): LocateResponderStats {
    return {
      subscriptions: this.#executions.size + this.#jobs.size,
      answered: this.#answered,
      rejected: this.#rejected,
    };
  }

  #onChange(change: CatalogChange): void {
    if (this.#closed) return;
    if (change.kind === "created") this.#add(change.executionId, change.jobId);
    else this.#remove(change.executionId, change.jobId);
  }

  #add(executionId: string, jobId: string | undefined): void {
    if (this.#closed || this.#executions.has(executionId)) return;
    this.#executions.set(executionId, this.#subscribeAll("e", executionId));
    if (jobId === undefined) return;
    let job = this.#jobs.get(jobId);
    if (!job) {
      job = { subs: this.#subscribeAll("j", jobId), executions: new Set() };
      this.#jobs.set(jobId, job);
    }
    job.executions.add(executionId);
  }

  #remove(executionId: string, jobId: string | undefined): void {
    for (const sub of this.#executions.get(executionId) ?? []) sub.unsubscribe();
    this.#executions.delete(executionId);
    const job = jobId === undefined ? undefined : this.#jobs.get(jobId);
    if (!job || jobId === undefined) return;
    job.executions.delete(executionId);
    if (job.executions.size === 0) {
      for (const sub of job.subs) sub.unsubscribe();
      this.#jobs.delete(jobId);
    }
  }

  /** The subscriptions of one id: v1's subject, and v2's for every requester. */
  #subscribeAll(kind: "e" | "j", id: string): Subscription[] {
    const subs: Subscription[] = [];
    if (this.#versions.includes("v1")) {
      const subject = kind === "e" ? locateSubjects.execution(id) : locateSubjects.job(id);
      subs.push(this.#subscribe(subject, (msg) => this.#onLookup(msg)));
    }
    if (this.#versions.includes("v2")) {
      subs.push(
        this.#subscribe(subjectsV2.locateWildcard(kind, id), (msg) => this.#onLookupV2(msg)),
      );
    }
    return subs;
  }

  #subscribe(subject: string, handle: (msg: Msg) => Promise<void>): Subscription {
    return this.#nc.subscribe(subject, {
      callback: (error, msg) => {
        if (error) {
          this.#log.warn({ err: error, subject }, "locate subscription failed");
          return;
        }
        void handle(msg).catch((err: unknown) => {
          this.#log.warn({ err }, "could not answer a lookup");
        });
      },
    });
  }

  async #onLookup(msg: Msg): Promise<void> {
    let request: LocateRequest;
    try {
      request = decodeLocate(msg.data);
    } catch (error) {
      this.#reject("invalid lookup", error);
      return;
    }
    // Answer only on the requester's own lookup inbox, and only for the id this subject is for
    // (another id hashed here would be someone probing or a bug).
    const asked =
      request.executionId !== undefined
        ? locateSubjects.execution(request.executionId)
        : locateSubjects.job(request.jobId as string);
    if (asked !== msg.subject) return this.#reject("lookup for another subject's id");
    if (!msg.reply || !isLookupReply(msg.reply, request.sourcePeerId))
      return this.#reject("lookup reply is not the requester's lookup inbox");
    if (!this.#rate.take("")) return this.#reject("over the lookup rate");
    const executions = await this.#describe(request);
    if (executions.length === 0 || this.#closed) return;
    this.#nc.publish(
      msg.reply,
      encode({ type: MessageType.Located, computeNodeId: this.computeNodeId, executions }),
    );
    this.#answered++;
  }

  /**
   * A v2 lookup: the requester is its subject's (`node.locate.ExecutionLocate/v2.<rid>.…`), the
   * answer goes to `_TW.<rid>.v2.<this node>.l.<lookupId>` (derived, never the reply subject),
   * and only when the reply subject is that lookup's own (where NATS's 503 would go).
   */
  async #onLookupV2(msg: Msg): Promise<void> {
    const rid = msg.subject.slice(LOCATE_SUBJECT_PREFIX_V2.length + 1).split(".")[0] ?? "";
    let request: ReturnType<typeof decodeLocateV2>;
    let asked: string;
    try {
      request = decodeLocateV2(msg.data);
      asked =
        request.executionId !== undefined
          ? subjectsV2.locateExecution(rid, request.executionId)
          : subjectsV2.locateJob(rid, request.jobId as string);
    } catch (error) {
      this.#reject("invalid lookup", error);
      return;
    }
    if (asked !== msg.subject) return this.#reject("lookup for another subject's id");
    if (msg.reply !== subjectsV2.locateReply(rid, request.lookupId))
      return this.#reject("lookup reply is not the lookup's own");
    if (!this.#rate.take("")) return this.#reject("over the lookup rate");
    const executions = await this.#describe(request);
    if (executions.length === 0 || this.#closed) return;
    this.#nc.publish(
      subjectsV2.locateAnswer(rid, this.computeNodeId, request.lookupId),
      encodeV2({ type: MessageTypeV2.Located, executions }),
    );
    this.#answered++;
  }

  async #describe(
    request: Pick<LocateRequest, "executionId" | "jobId">,
  ): Promise<LocatedExecution[]> {
    const ids =
      request.executionId !== undefined
        ? [request.executionId]
        : [...(this.#jobs.get(request.jobId as string)?.executions ?? [])];
    const out: LocatedExecution[] = [];
    for (const id of ids.slice(0, MAX_LOCATED_EXECUTIONS)) {
      const info = await this.#catalog.describeExecution(id);
      if (info) out.push(info);
    }
    return out;
  }

  #reject(reason: string, error?: unknown): void {
    this.#rejected++;
    this.#log.debug({ reason, err: error }, "lookup not answered");
  }
}

/** `_TW.<sourcePeerId>.l.<lookupId>`: the only subject a lookup is answered on. */
function isLookupReply(reply: string, sourcePeerId: string): boolean {
  const prefix = `_TW.${sourcePeerId}.l.`;
  if (!reply.startsWith(prefix)) return false;
  try {
    return locateSubjects.reply(sourcePeerId, reply.slice(prefix.length)) === reply;
  } catch {
    return false;
  }
}
