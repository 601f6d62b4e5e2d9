// NatsCluster: N real nats-servers routed into one cluster on 127.0.0.1, each restartable on its ports.
import "./dispose-polyfill.js";
import { randomBytes } from "node:crypto";
import { pollUntil } from "./deadline.js";
import { mergeNatsConfig, type NatsConfig } from "./nats-config.js";
import { LOOPBACK } from "./nats-launch.js";
import { NatsServer, type NatsServerOptions } from "./nats-server.js";

export interface NatsClusterOptions {
  /** Number of members (default 3). */
  size?: number;
  /** Config for every member; the fixture sets server_name and cluster name/listen/routes. */
  config?: NatsConfig;
  /** Cluster name (default: unique per cluster, so parallel test clusters never merge). */
  name?: string;
  /** Deadline for the full mesh to form, on start and after restart(i) (default 20s). */
  formTimeoutMs?: number;
  /** Passed to every member. */
  jetstream?: boolean;
  debug?: boolean;
  binary?: string;
  args?: readonly string[];
}

interface Routez {
  num_routes: number;
}

/**
 * N nats-servers routed into one cluster on 127.0.0.1. Member 0 is the seed: it listens
 * for routes on a server-picked port, the others start with an explicit route to it and
 * learn the rest by gossip. Every member keeps its ports across restart(i), and explicit
 * routes are retried forever by the server, so a restarted seed is found again too.
 */
export class NatsCluster {
  readonly name: string;
  readonly servers: readonly NatsServer[];
  readonly #formTimeoutMs: number;

  private constructor(name: string, servers: NatsServer[], formTimeoutMs: number) {
    this.name = name;
    this.servers = servers;
    this.#formTimeoutMs = formTimeoutMs;
  }

  static async start(options: NatsClusterOptions = {}): Promise<NatsCluster> {
    const size = options.size ?? 3;
    if (!Number.isInteger(size) || size < 1) throw new Error(`invalid cluster size: ${size}`);
    const name = options.name ?? `testkit-${randomBytes(4).toString("hex")}`;
    const formTimeoutMs = options.formTimeoutMs ?? 20_000;

    const memberOptions = (index: number, routes: string[]): NatsServerOptions => ({
      ...(options.jetstream !== undefined && { jetstream: options.jetstream }),
      ...(options.debug !== undefined && { debug: options.debug }),
      ...(options.binary !== undefined && { binary: options.binary }),
      ...(options.args !== undefined && { args: options.args }),
      config: mergeNatsConfig(options.config, {
        server_name: `${name}-${index}`,
        cluster: { name, listen: `${LOOPBACK}:-1`, ...(routes.length > 0 && { routes }) },
      }),
    });

    const seed = await NatsServer.start(memberOptions(0, []));
    const servers = [seed];
    try {
      const seedRoute = seed.clusterUrl!;
      const others = await Promise.allSettled(
        Array.from({ length: size - 1 }, (_, i) =>
          NatsServer.start(memberOptions(i + 1, [seedRoute])),
        ),
      );
      for (const result of others) if (result.status === "fulfilled") servers.push(result.value);
      const failure = others.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failure) throw failure.reason;

      const cluster = new NatsCluster(name, servers, formTimeoutMs);
      await cluster.waitForRoutes();
      return cluster;
    } catch (err) {
      await Promise.allSettled(servers.map((s) => s.stop()));
      throw err;
    }
  }

  /** Client URLs of all members, in member order. */
  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }

  server(index: number): NatsServer {
    const server = this.servers[index];
    if (!server) throw new RangeError(`no cluster member ${index} (size ${this.servers.length})`);
    return server;
  }

  /**
   * Resolves once every running member reports a route to every other running member
   * (so after kill(i), the survivors are expected to see each other only).
   */
  async waitForRoutes(timeoutMs = this.#formTimeoutMs): Promise<void> {
    await pollUntil(
      async () => {
        const live = this.servers.filter((s) => s.running && !s.frozen);
        const counts = await Promise.all(
          live.map(async (s) => (await s.monitor<Routez>("routez")).num_routes),
        );
        return counts.every((n) => n === live.length - 1) ? true : undefined;
      },
      {
        timeoutMs,
        intervalMs: 50,
        what: `cluster ${this.name} to form full mesh (${this.#describe()})`,
      },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.#logs()}`, { cause: err });
    });
  }

  /** SIGKILLs member `index` (the others keep running). */
  async kill(index: number): Promise<void> {
    await this.server(index).kill();
  }

  /** Restarts member `index` on its old ports and waits until the mesh is whole again. */
  async restart(index: number): Promise<void> {
    await this.server(index).restart();
    await this.waitForRoutes();
  }

  async stop(): Promise<void> {
    const results = await Promise.allSettled(this.servers.map((s) => s.stop()));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failure) throw failure.reason;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #describe(): string {
    return this.servers
      .map((s, i) => `#${i} ${s.running ? `pid ${s.pid}` : "down"} ${s.clusterUrl}`)
      .join(", ");
  }

  #logs(): string {
    return this.servers.map((s, i) => `--- member ${i} ---\n${s.logTail(30)}`).join("\n");
  }
}
