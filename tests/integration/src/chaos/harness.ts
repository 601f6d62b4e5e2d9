// Drives the chaos fixtures (fixtures/*.mjs): a compute node and requester nodes as separate OS
// processes that print JSON events and take commands on stdin, and a plain NATS subscriber that
// watches a requester's stream inboxes from the test process.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { LogStreamServerStats } from "@tailwire/compute";
import { decodeFrame } from "@tailwire/protocol";
import type { LogStreamClientStats } from "@tailwire/requester";
import { type ExitStatus, NatsServer, type NodeProcess } from "@tailwire/testkit";
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

  static async compute(config: {
    url: string;
    nodeId: string;
    dir: string;
    executions: string[];
    heartbeatTimeoutMs?: number;
    maxMissed?: number;
    tickMs?: number;
  }): Promise<ChaosNode> {
    const proc = await startScript(
      new URL("compute-node.mjs", FIXTURES),
      { heartbeatTimeoutMs: 2000, maxMissed: TIMING.maxMissed, ...config },
      { readyTimeoutMs: 20_000 },
    );
    return new ChaosNode(proc, config.nodeId);
  }

  static async requester(config: {
    url: string;
    nodeId: string;
    lazy?: boolean;
    heartbeatIntervalMs?: number;
    heartbeatTimeoutMs?: number;
    computeLostAfterMissed?: number;
    windowBytes?: number;
  }): Promise<ChaosNode> {
    const proc = await startScript(
      new URL("requester-node.mjs", FIXTURES),
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

/**
 * A plain NATS subscriber on `_TW.<requesterId>.s.*`: sees every frame a compute node publishes
 * to that requester, whether or not the requester is alive.
 */
export class InboxObserver {
  readonly frames: ObservedFrame[] = [];
  readonly #nc: NatsConnection;
  readonly #marks = new Map<string, () => void>();

  private constructor(nc: NatsConnection) {
    this.#nc = nc;
  }

  static async start(url: string, requesterIds: string[]): Promise<InboxObserver> {
    const nc = await connect({ servers: url, name: "chaos observer", maxReconnectAttempts: 0 });
    const observer = new InboxObserver(nc);
    for (const id of requesterIds) {
      nc.subscribe(`_TW.${id}.s.*`, {
        callback: (_err, msg) => {
          let type = "undecodable";
          let n: number | undefined;
          try {
            // Data frames carry their lines as a body after the JSON: the codec reads both forms.
            const frame = decodeFrame(msg.data);
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
    nc.subscribe("chaos.mark.*", {
      callback: (_err, msg) => {
        const tag = msg.subject.slice("chaos.mark.".length);
        observer.#marks.get(tag)?.();
      },
    });
    await nc.flush();
    return observer;
  }

  framesOf(streamId: string): ObservedFrame[] {
    return this.frames.filter((f) => f.streamId === streamId);
  }

  /**
   * Has `compute` publish a marker on its own connection and waits for it here: NATS keeps one
   * connection's messages in order, so every frame the compute node published before the marker
   * has been received once this resolves.
   */
  async fence(compute: ChaosNode, timeoutMs = 5_000): Promise<void> {
    const tag = uniqueTag("m");
    const received = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`marker ${tag} not received within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#marks.set(tag, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    compute.send(`mark chaos.mark.${tag} ${tag}`);
    await received;
    this.#marks.delete(tag);
  }

  /** A round trip to the server: whatever it routed to us before is received after this. */
  async flush(): Promise<void> {
    await this.#nc.flush();
  }

  async close(): Promise<void> {
    await this.#nc.close();
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
 * The frame every chaos test file shares: one nats-server for the file, a Scene disposed after
 * each test, the measurements printed (under `title`) at the end. Call at the top of the file.
 */
export function useChaosScene(title: string): {
  scene: Scene;
  measured: Measurements;
  natsUrl: () => string;
} {
  let nats: NatsServer | undefined;
  const scene = new Scene();
  const measured = new Measurements();
  beforeAll(async () => {
    nats = await NatsServer.start();
  });
  afterEach(() => scene.dispose());
  afterAll(async () => {
    measured.print(title);
    await nats?.stop();
  });
  return { scene, measured, natsUrl: () => nats!.url };
}
