// Drives the chaos fixtures (fixtures/*.mjs): a compute node and requester nodes as separate OS
// processes that print JSON events and take commands on stdin, and a plain NATS subscriber that
// watches a requester's stream inboxes from the test process. Every chaos test runs in each
// TOPOLOGY: one nats-server for everybody, and a 3-node cluster with every side on its own member.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { LogStreamServerStats } from "@tailwire/compute";
import { decodeFrame, decodeFrameV2, subjects, subjectsV2 } from "@tailwire/protocol";
import type { LogStreamClientStats } from "@tailwire/requester";
import {
  type ExitStatus,
  NatsCluster,
  NatsServer,
  type NodeProcess,
  pollUntil,
} from "@tailwire/testkit";
import { afterAll, afterEach, beforeAll } from "vitest";
import { EventProcess, startScript, type TimedEvent } from "../support/event-process.js";

/** The timing every chaos test runs with (and bench/failover.mjs): short, as the issue asks. */
export const TIMING = {
  heartbeatIntervalMs: 200,
  heartbeatTimeoutMs: 100,
  maxMissed: 2,
  computeLostAfterMissed: 3,
} as const;

/**
 * What a busy 2-core machine adds to a detection time: timers firing late, a process start-up
 * elsewhere, the event's trip through a pipe. Windows are the protocol's bound plus this.
 */
export const SLACK_MS = 200;

/** "At once": a control message or a final frame and its handling, far below one interval. */
export const ROUND_TRIP_MS = 150;

/** Compute gives a requester up within interval × maxMissed + timeout (PROTOCOL.md). */
export const REQUESTER_LOST_WINDOW_MS =
  TIMING.heartbeatIntervalMs * TIMING.maxMissed + TIMING.heartbeatTimeoutMs;

/** Requester declares a compute node lost after lostAfterMissed silent intervals, checked every interval / 4. */
export const COMPUTE_LOST_WINDOW_MS =
  TIMING.heartbeatIntervalMs * TIMING.computeLostAfterMissed + TIMING.heartbeatIntervalMs / 4;

export type ChaosEvent = TimedEvent;

export interface StreamEndedEvent extends ChaosEvent {
  requester: string;
  cause: string;
  lastN: number;
}

export interface RequesterEndedEvent extends ChaosEvent {
  streamId: string;
  outcome: "completed" | "cancelled" | "error";
  error?: string;
  code?: string;
  endCause?: string;
  exitCode?: number | null;
  entries: number;
}

export interface RequesterStatsEvent extends ChaosEvent {
  stats: LogStreamClientStats;
  streams: Record<string, { streamId: string; entries: number; lastSeq: number; ended: boolean }>;
  droppedControl: number;
}

/** A node's NATS login under a permission table (and a compute node's own inbox prefix). */
export interface NatsLogin {
  user?: string;
  pass?: string;
  inboxPrefix?: string;
}

export interface ComputeConfig extends NatsLogin {
  nodeId: string;
  /** The wire versions it serves (LogStreamServerOptions.versions; an old release ignores it). */
  versions?: string[];
  executions: string[];
  heartbeatTimeoutMs?: number;
  maxMissed?: number;
  tickMs?: number;
}

export interface RequesterConfig extends NatsLogin {
  nodeId: string;
  /** Which wire versions the requester may use (LogStreamClientOptions.protocol). */
  protocol?: string;
  lazy?: boolean;
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  computeLostAfterMissed?: number;
  windowBytes?: number;
}

const FIXTURES = new URL("./fixtures/", import.meta.url);
let tags = 0;
const uniqueTag = (prefix: string) => `${prefix}${process.pid}x${++tags}`;

/** One fixture process: commands in, JSON events out. */
export class ChaosNode extends EventProcess<ChaosEvent> {
  readonly nodeId: string;

  private constructor(proc: NodeProcess, nodeId: string) {
    super(proc);
    this.nodeId = nodeId;
  }

  /** `fixtures`: where the scripts are (another release's copy of them: the upgrade tests). */
  static async compute(
    config: ComputeConfig & { url: string; dir: string },
    fixtures: URL = FIXTURES,
  ): Promise<ChaosNode> {
    const proc = await startScript(
      new URL("compute-node.mjs", fixtures),
      { heartbeatTimeoutMs: 2000, maxMissed: TIMING.maxMissed, ...config },
      { readyTimeoutMs: 20_000 },
    );
    return new ChaosNode(proc, config.nodeId);
  }

  static async requester(
    config: RequesterConfig & { url: string },
    fixtures: URL = FIXTURES,
  ): Promise<ChaosNode> {
    const proc = await startScript(
      new URL("requester-node.mjs", fixtures),
      {
        heartbeatIntervalMs: TIMING.heartbeatIntervalMs,
        heartbeatTimeoutMs: TIMING.heartbeatTimeoutMs,
        computeLostAfterMissed: TIMING.computeLostAfterMissed,
        ...config,
      },
      { readyLine: config.lazy ? '{"ev":"started"' : '{"ev":"ready"', readyTimeoutMs: 20_000 },
    );
    return new ChaosNode(proc, config.nodeId);
  }

  async computeStats(): Promise<LogStreamServerStats> {
    const tag = uniqueTag("s");
    this.send(`stats ${tag}`);
    return (await this.event<ChaosEvent & { stats: LogStreamServerStats }>("stats", tag)).stats;
  }

  async requesterStats(): Promise<RequesterStatsEvent> {
    const tag = uniqueTag("s");
    this.send(`stats ${tag}`);
    return this.event<RequesterStatsEvent>("stats", tag);
  }

  /**
   * Graceful close, then the process must exit by itself: a leaked timer, subscription, socket
   * or file handle keeps its event loop alive and this times out.
   */
  async closeAndExit(timeoutMs = 5_000): Promise<ExitStatus> {
    this.send("close");
    return this.proc.waitForExit(timeoutMs);
  }
}

export interface ObservedFrame {
  streamId: string;
  type: string;
  n: number | undefined;
  bytes: number;
  /** Date.now() in the test process when the frame arrived. */
  at: number;
}

/** A requester's stream inboxes of both versions (the stream id is the last token of each). */
const inboxesOf = (requesterNodeId: string): string[] => [
  subjects.streamInboxWildcard(requesterNodeId),
  subjectsV2.streamInboxWildcard(requesterNodeId),
];

/** The subject every marker is published on (one token per marker: its tag). */
const MARK_PREFIX = "chaos.mark.";

/**
 * A plain NATS subscriber on `_TW.<requesterId>.s.*` and `_TW.<requesterId>.v2.*.s.*`: sees every frame a compute node publishes
 * to that requester, whether or not the requester is alive.
 *
 * Ordering, which fence() and flush() rely on: NATS delivers the messages one publisher
 * connection sent to one subscriber connection in the order they were sent, also across a
 * cluster. A server forwards everything of one account to a given other member over one route
 * connection, in the order it processed it, and that member delivers it to the subscriber in
 * that order; the compute node's frames and its markers go the same way (its server → route →
 * the observer's server → the observer), so a marker cannot overtake a frame published before it.
 */
export class InboxObserver {
  readonly frames: ObservedFrame[] = [];
  readonly #nc: NatsConnection;
  /** Cluster only: a connection to the compute node's server, for flush() (see there). */
  readonly #relay: NatsConnection | undefined;
  readonly #marks = new Map<string, () => void>();

  private constructor(nc: NatsConnection, relay: NatsConnection | undefined) {
    this.#nc = nc;
    this.#relay = relay;
  }

  /**
   * Subscribes on `url`. `computeUrl`: the compute nodes' server when it is another cluster
   * member (then flush() goes through it).
   */
  static async start(
    url: string,
    requesterIds: string[],
    computeUrl?: string,
  ): Promise<InboxObserver> {
    const nc = await connect({ servers: url, name: "chaos observer", maxReconnectAttempts: 0 });
    const relay =
      computeUrl === undefined || computeUrl === url
        ? undefined
        : await connect({ servers: computeUrl, name: "chaos relay", maxReconnectAttempts: 0 });
    const observer = new InboxObserver(nc, relay);
    // Both versions' inboxes: two nodes of this release speak v2, an older one v1.
    for (const subject of requesterIds.flatMap(inboxesOf)) {
      nc.subscribe(subject, {
        callback: (_err, msg) => {
          let type = "undecodable";
          let n: number | undefined;
          try {
            // Data frames carry their lines as a body after the JSON: the codec reads both forms.
            const frame = msg.subject.includes(".v2.")
              ? decodeFrameV2(msg.data)
              : decodeFrame(msg.data);
            type = frame.type;
            n = typeof frame.n === "number" ? frame.n : undefined;
          } catch {
            // counted as a frame all the same
          }
          const streamId = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
          observer.frames.push({ streamId, type, n, bytes: msg.data.byteLength, at: Date.now() });
        },
      });
    }
    nc.subscribe(`${MARK_PREFIX}*`, {
      callback: (_err, msg) => {
        const tag = msg.subject.slice(MARK_PREFIX.length);
        observer.#marks.get(tag)?.();
      },
    });
    await nc.flush();
    return observer;
  }

  /** What the observer subscribes to: interest its publishers' server must have (cluster). */
  static subjects(requesterIds: string[]): string[] {
    return [...requesterIds.flatMap(inboxesOf), `${MARK_PREFIX}*`];
  }

  framesOf(streamId: string): ObservedFrame[] {
    return this.frames.filter((f) => f.streamId === streamId);
  }

  /**
   * Has `compute` publish a marker on its own connection and waits for it here: NATS keeps one
   * connection's messages in order (across routes too, see the class comment), so every frame
   * the compute node published before the marker has been received once this resolves.
   */
  async fence(compute: ChaosNode, timeoutMs = 5_000): Promise<void> {
    await this.#mark((subject, tag) => compute.send(`mark ${subject} ${tag}`), timeoutMs);
  }

  /**
   * Whatever the compute node's server routed to us before is received after this. One server:
   * a round trip to it. Cluster: a marker published on the relay connection to the compute
   * node's server; it takes the route the compute node's frames took, behind everything that
   * server had processed before (a test calls this once the frames it waits for reached another
   * member, e.g. the requester got the final frame, so the compute node's server had them).
   */
  async flush(): Promise<void> {
    const relay = this.#relay;
    if (!relay) {
      await this.#nc.flush();
      return;
    }
    await this.#mark(async (subject, tag) => {
      relay.publish(subject, JSON.stringify({ mark: tag }));
      await relay.flush();
    });
  }

  /** Publishes a fresh marker with `publish` and waits until it arrived here. */
  async #mark(
    publish: (subject: string, tag: string) => unknown,
    timeoutMs = 5_000,
  ): Promise<void> {
    const tag = uniqueTag("m");
    let timer: NodeJS.Timeout | undefined;
    const received = new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`marker ${tag} not received within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#marks.set(tag, resolve);
    });
    try {
      await publish(`${MARK_PREFIX}${tag}`, tag);
      await received;
    } finally {
      clearTimeout(timer);
      this.#marks.delete(tag);
    }
  }

  async close(): Promise<void> {
    await this.#nc.close();
    await this.#relay?.close();
  }
}

/**
 * An observation window: the time during which a misbehaving node would have published (the
 * compute node appends a line every 20 ms and heartbeats every interval). Not a synchronisation:
 * what follows it is a fence and assertions of absence.
 */
export function observeFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Everything a test started, stopped in reverse order whatever happened. */
export class Scene {
  readonly #cleanups: (() => Promise<unknown>)[] = [];

  async tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), "tailwire-chaos-"));
    this.#cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  add<T extends ChaosNode | InboxObserver>(thing: T): T {
    this.#cleanups.push(async () => {
      if (thing instanceof ChaosNode) {
        if (thing.proc.running) await thing.proc.kill();
      } else await thing.close();
    });
    return thing;
  }

  async dispose(): Promise<void> {
    for (const cleanup of this.#cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  }
}

/**
 * Opens follows of the whole log on `requester` (tag → execution) and waits until each was
 * accepted and delivered its first entry. Returns tag → stream id.
 */
export async function openFollows(
  requester: ChaosNode,
  computeNodeId: string,
  streams: Record<string, string>,
): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  for (const [tag, executionId] of Object.entries(streams)) {
    requester.send(`open ${tag} ${computeNodeId} ${executionId}`);
  }
  for (const tag of Object.keys(streams)) {
    ids[tag] = (await requester.event<ChaosEvent & { streamId: string }>("accepted", tag)).streamId;
    await requester.event("first-entry", tag);
  }
  return ids;
}

/**
 * After a stream stopped silently: watch its inbox for two heartbeat intervals (the producer
 * appends every 20 ms, so a pump still running would publish), fence, and return the frames
 * numbered after the last one the compute node reported sending (`lastN`): must be none.
 */
export async function framesAfterStop(
  observer: InboxObserver,
  compute: ChaosNode,
  ended: StreamEndedEvent[],
): Promise<ObservedFrame[]> {
  await observeFor(2 * TIMING.heartbeatIntervalMs);
  await observer.fence(compute);
  return ended.flatMap((e) =>
    observer.framesOf(e.id).filter((f) => f.n === undefined || f.n > e.lastN),
  );
}

/** Measured detection times, printed once per file (the report quotes them). */
export class Measurements {
  readonly #rows: { what: string; ms: number; window: string }[] = [];

  add(what: string, ms: number, window: string): number {
    this.#rows.push({ what, ms, window });
    return ms;
  }

  print(title: string): void {
    const lines = this.#rows.map((r) => `  ${r.what}: ${r.ms} ms (window ${r.window})`);
    console.info(`[chaos] ${title}\n${lines.join("\n")}`);
  }
}

/**
 * Where the NATS servers are. "single": one nats-server for everybody (compute, requesters,
 * observer). "cluster": a 3-node cluster, compute processes on member 0, requester processes on
 * member 1, the test's observer on member 2, so every frame, heartbeat, control message and
 * marker crosses a route (the scale issue: every liveness test also passes in that topology).
 */
export type Topology = "single" | "cluster";
export const TOPOLOGIES: readonly Topology[] = ["single", "cluster"];

/** Who connects where (cluster member index; all to the one server in "single"). */
const MEMBER = { compute: 0, requester: 1, observer: 2 } as const;
type Role = keyof typeof MEMBER;

interface Routez {
  routes?: { subscriptions_list?: string[] }[];
}

/**
 * The servers of one file's topology. Each child gets only its own server's URL (the fixtures
 * connect with maxReconnectAttempts 0): a process is on the member the topology says, or fails.
 */
class ChaosNats {
  readonly #servers: readonly NatsServer[];
  readonly #stop: () => Promise<void>;

  private constructor(servers: readonly NatsServer[], stop: () => Promise<void>) {
    this.#servers = servers;
    this.#stop = stop;
  }

  static async start(topology: Topology): Promise<ChaosNats> {
    if (topology === "single") {
      const nats = await NatsServer.start();
      return new ChaosNats([nats], () => nats.stop());
    }
    const cluster = await NatsCluster.start({ size: 3 });
    return new ChaosNats(cluster.servers, () => cluster.stop());
  }

  #server(role: Role): NatsServer {
    return this.#servers[MEMBER[role]] ?? this.#servers[0]!;
  }

  url(role: Role): string {
    return this.#server(role).url;
  }

  /**
   * Resolves once the server `publisher` connects to knows the interest in `subs` that clients
   * of other members registered (cluster; at once on one server, where a flushed SUB is known):
   * until then that server drops what is published on them (a request gets "no responders").
   * Interest crosses a route in well under a millisecond on loopback, but a test must not
   * publish into that moment: the harness waits for it after every subscriber it starts whose
   * publishers are on another member.
   */
  async propagated(publisher: Role, subs: string[]): Promise<void> {
    if (this.#servers.length === 1) return;
    const server = this.#server(publisher);
    await pollUntil(
      async () => {
        const known = new Set(
          ((await server.monitor<Routez>("routez?subs=1")).routes ?? []).flatMap(
            (r) => r.subscriptions_list ?? [],
          ),
        );
        return subs.every((sub) => known.has(sub)) ? true : undefined;
      },
      {
        timeoutMs: 10_000,
        intervalMs: 5,
        what: `interest in ${subs.join(", ")} on ${publisher}'s server`,
      },
    );
  }

  stop(): Promise<void> {
    return this.#stop();
  }
}

/** What a chaos test file works with, for one topology (useChaosScene). */
export interface ChaosScene {
  readonly topology: Topology;
  /** Everything a test started: stopped after each test. */
  readonly scene: Scene;
  readonly measured: Measurements;
  /** An InboxObserver on the observer's server, once the compute nodes' server knows its interest. */
  observer(requesterIds: string[]): Promise<InboxObserver>;
  /**
   * A compute node process on the compute server (in a fresh temp dir), once the requesters'
   * server knows its request and control subjects: a requester may open streams right away.
   */
  compute(config: ComputeConfig): Promise<ChaosNode>;
  /**
   * A requester process on the requester server. No wait: it publishes an open only after it
   * subscribed its inboxes, and its server forwards both over the same route in that order, so
   * the compute node's server knows where to send frames before it sees the open. (A lazy one's
   * interest, after `connect`, reaches the compute node's server a fraction of a millisecond
   * after its `ready`; a heartbeat into that moment counts as one missed beat.)
   */
  requester(config: RequesterConfig): Promise<ChaosNode>;
}

/**
 * The frame every chaos test file shares, for one topology: its NATS servers for the file (or
 * describe block: call it inside `describe.each(TOPOLOGIES)`), a Scene disposed after each test,
 * the measurements printed (under `title` and the topology) at the end.
 */
export function useChaosScene(title: string, topology: Topology): ChaosScene {
  let nats: ChaosNats | undefined;
  const scene = new Scene();
  const measured = new Measurements();
  const servers = () => {
    if (!nats) throw new Error("useChaosScene: the NATS servers are not started (outside a test?)");
    return nats;
  };
  beforeAll(async () => {
    nats = await ChaosNats.start(topology);
  });
  afterEach(() => scene.dispose());
  afterAll(async () => {
    measured.print(`${title} [${topology}]`);
    await nats?.stop();
  });
  return {
    topology,
    scene,
    measured,
    async observer(requesterIds) {
      const nats = servers();
      const observer = scene.add(
        await InboxObserver.start(nats.url("observer"), requesterIds, nats.url("compute")),
      );
      await nats.propagated("compute", InboxObserver.subjects(requesterIds));
      return observer;
    },
    async compute(config) {
      const nats = servers();
      const dir = await scene.tempDir();
      const compute = scene.add(
        await ChaosNode.compute({ url: nats.url("compute"), dir, ...config }),
      );
      await nats.propagated("requester", [
        subjects.request(config.nodeId),
        subjects.control(config.nodeId),
        subjectsV2.requestWildcard(config.nodeId),
        subjectsV2.controlWildcard(config.nodeId),
      ]);
      return compute;
    },
    async requester(config) {
      return scene.add(await ChaosNode.requester({ url: servers().url("requester"), ...config }));
    },
  };
}
