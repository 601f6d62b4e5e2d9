// Shared pieces of the scale tests: the fixture processes (fixtures/*.mjs, run against the built
// packages), an in-process compute node whose log records are kept with their times, and a way
// to force garbage collection for heap measurements.
import { type AddressInfo, createConnection, createServer, type Socket } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type EndCause, LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import type { Logger } from "@tailwire/protocol";
import { ExecutionNotFoundError, type LogStreamClient } from "@tailwire/requester";
import { pollUntil } from "@tailwire/testkit";
import { EventProcess, startScript, type TimedEvent } from "../support/event-process.js";

const FIXTURES = new URL("./fixtures/", import.meta.url);

export type FixtureEvent = TimedEvent;

/** Sums of every server's stats() in a fleet process. */
export interface FleetStats {
  openStreams: number;
  openStreamsByRequester: Record<string, number>;
  requesters: number;
  heartbeatsSent: number;
  heartbeatsFailed: number;
  streamsEnded: Partial<Record<EndCause, number>>;
  requestsRejected: number;
  controlRejected: number;
  framesSent: number;
  bytesSent: number;
}

export interface FleetSnapshot extends FixtureEvent {
  stats: FleetStats;
  /** Failed heartbeats by kind and error message. */
  failures: Record<string, number>;
  heapUsed: number;
  rss: number;
  cpuMs: number;
}

let tags = 0;
const uniqueTag = () => `q${process.pid}x${++tags}`;

/** A fixture process that prints JSON events and takes commands on stdin. */
class Fixture extends EventProcess<FixtureEvent> {
  async kill(): Promise<void> {
    if (this.proc.running) await this.proc.kill("SIGKILL");
  }
}

/** compute-fleet.mjs: `nodes` LogStreamServers (`${prefix}-${i}`) over `connections` connections. */
export class Fleet extends Fixture {
  static async start(config: {
    url: string;
    prefix: string;
    nodes: number;
    connections?: number;
    executions: string[];
    tickMs?: number;
    heartbeatTimeoutMs?: number;
    maxMissed?: number;
    events?: boolean;
  }): Promise<Fleet> {
    const proc = await startScript(new URL("compute-fleet.mjs", FIXTURES), config, {
      nodeArgs: ["--expose-gc"],
      readyTimeoutMs: 30_000,
    });
    return new Fleet(proc);
  }

  async stats(gc = false, timeoutMs = 10_000): Promise<FleetSnapshot> {
    const tag = uniqueTag();
    this.send(`stats ${tag}${gc ? " gc" : ""}`);
    return this.event<FleetSnapshot>("stats", tag, timeoutMs);
  }
}

/** requester-node.mjs: one LogStreamClient whose follows are consumed as they arrive. */
export class RequesterProcess extends Fixture {
  static async start(config: {
    url: string;
    nodeId: string;
    heartbeatIntervalMs?: number;
    heartbeatTimeoutMs?: number;
    computeLostAfterMissed?: number;
  }): Promise<RequesterProcess> {
    const proc = await startScript(new URL("requester-node.mjs", FIXTURES), config, {
      readyTimeoutMs: 20_000,
    });
    return new RequesterProcess(proc);
  }

  /** Opens a follow and waits until it delivered its first entry; returns its stream id. */
  async follow(tag: string, computeNodeId: string, executionId: string): Promise<string> {
    this.send(`open ${tag} ${computeNodeId} ${executionId}`);
    const accepted = await this.event<FixtureEvent & { streamId: string }>("accepted", tag);
    await this.event("first-entry", tag);
    return accepted.streamId;
  }
}

export interface EndRecord {
  streamId: string;
  requesterNodeId: string;
  cause: EndCause;
  /** Date.now() when the server logged the end. */
  at: number;
}

/** An in-process compute node: a LogStreamServer over a MemoryLogStore, its ends recorded. */
export class ComputeNode {
  readonly server: LogStreamServer;
  readonly store = new MemoryLogStore({
    maxEntriesPerExecution: 1_000_000,
    maxLogBytes: Number.POSITIVE_INFINITY,
    maxStoreBytes: Number.POSITIVE_INFINITY,
  });
  readonly ends: EndRecord[] = [];
  readonly errors: string[] = [];
  #ticker: NodeJS.Timeout | undefined;

  constructor(
    connection: NatsConnection,
    nodeId: string,
    heartbeat: { timeoutMs?: number; maxMissed?: number } = {},
  ) {
    const ends = this.ends;
    const errors = this.errors;
    const logger: Logger = {
      debug() {},
      info(obj, msg) {
        if (msg !== "log stream ended") return;
        const o = obj as { streamId: string; requesterNodeId: string; cause: EndCause };
        ends.push({
          streamId: o.streamId,
          requesterNodeId: o.requesterNodeId,
          cause: o.cause,
          at: Date.now(),
        });
      },
      warn() {},
      error(obj, msg) {
        errors.push(`${msg ?? ""}: ${String((obj as { err?: unknown }).err)}`);
      },
    };
    this.server = new LogStreamServer({
      connection,
      nodeId,
      source: this.store,
      logger,
      heartbeat,
    });
  }

  /** Appends one line to each execution every `ms` (a producer that never stops by itself). */
  tick(executions: string[], ms: number): void {
    let n = 0;
    this.#ticker = setInterval(() => {
      n++;
      for (const id of executions) void this.store.append(id, "stdout", `tick ${n}`);
    }, ms);
  }

  stopTicking(): void {
    clearInterval(this.#ticker);
    this.#ticker = undefined;
  }

  endsOf(requesterNodeId: string): EndRecord[] {
    return this.ends.filter((e) => e.requesterNodeId === requesterNodeId);
  }

  async close(): Promise<void> {
    this.stopTicking();
    await this.server.close();
  }
}

/** A connection that never reconnects: when its socket dies, it closes. */
export function connectTo(url: string, name: string): Promise<NatsConnection> {
  return connect({ servers: url, name, reconnect: false });
}

/**
 * Waits until a request from `client` reaches compute node `computeNodeId` and its answer comes
 * back: in a cluster, interest crosses the routes asynchronously, and a request sent before the
 * compute node's subscription reached the requester's server gets "no responders".
 */
export async function waitUntilReachable(
  client: LogStreamClient,
  computeNodeId: string,
  timeoutMs = 10_000,
): Promise<void> {
  await pollUntil(
    async () => {
      const probe = client.streamLogs({ nodeId: computeNodeId, executionId: "reachability-probe" });
      try {
        await probe.accepted;
        return undefined;
      } catch (error) {
        // NodeUnreachableError until the interest has crossed the routes: poll again.
        return error instanceof ExecutionNotFoundError ? true : undefined;
      }
    },
    { timeoutMs, intervalMs: 50, what: `compute node ${computeNodeId} to be reachable` },
  );
}

let gcFunction: (() => void) | undefined;

/** Full garbage collection (for heap measurements), without --expose-gc on the command line. */
export function collectGarbage(): void {
  if (!gcFunction) {
    setFlagsFromString("--expose-gc");
    gcFunction = runInNewContext("gc") as () => void;
  }
  gcFunction();
  gcFunction();
}

/** Consumes a stream to its end: its entries' seqs and how it ended (an error, or none). */
export async function drain(
  stream: AsyncIterable<object>,
): Promise<{ seqs: number[]; error: unknown }> {
  const seqs: number[] = [];
  try {
    // A removal notice (no seq) would show as a NaN and fail the caller's checks.
    for await (const entry of stream) seqs.push((entry as { seq: number }).seq);
    return { seqs, error: undefined };
  } catch (error) {
    return { seqs, error };
  }
}

/** True when seqs are first, first+1, ... without a gap or a repeat. */
export function contiguous(seqs: number[]): boolean {
  return seqs.every((seq, i) => i === 0 || seq === seqs[i - 1]! + 1);
}

/**
 * A TCP relay in front of a nats-server: `cut()` destroys every relayed socket at once, so the
 * client's connection dies the way a network or a crashed host kills it (nothing more is sent
 * on it, not even what the client still had buffered).
 */
export class TcpRelay {
  readonly #server;
  readonly #sockets = new Set<Socket>();

  private constructor(server: ReturnType<typeof createServer>) {
    this.#server = server;
  }

  static async start(targetPort: number): Promise<TcpRelay> {
    const relay: TcpRelay = new TcpRelay(
      createServer((inbound) => {
        const outbound = createConnection({ host: "127.0.0.1", port: targetPort });
        for (const [a, b] of [
          [inbound, outbound],
          [outbound, inbound],
        ] as const) {
          relay.#sockets.add(a);
          a.on("error", () => b.destroy());
          a.on("close", () => {
            relay.#sockets.delete(a);
            b.destroy();
          });
          a.pipe(b);
        }
      }),
    );
    await new Promise<void>((resolve) => relay.#server.listen(0, "127.0.0.1", resolve));
    return relay;
  }

  get url(): string {
    return `nats://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Destroys every relayed socket and stops accepting: the host is gone for good. */
  cut(): void {
    if (this.#server.listening) this.#server.close();
    for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.once("close", () => resolve()));
    const listening = this.#server.listening;
    this.cut();
    if (listening) await closed;
  }
}
