// Test rig: one nats-server per test file, an in-process compute node (LogStreamServer over a
// MemoryLogStore), and gateways listening on real loopback sockets.
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import { LogStreamClient, type LogStreamClientOptions } from "@tailwire/requester";
import { NatsServer } from "@tailwire/testkit";
import { createGateway, type Gateway, type GatewayOptions } from "../server.js";

export const uniqueId = (prefix: string): string => `${prefix}-${randomBytes(4).toString("hex")}`;

export interface Compute {
  nodeId: string;
  store: MemoryLogStore;
  server: LogStreamServer;
  /** Its connection: a flush is a round trip that every subscription made before has reached. */
  nc: NatsConnection;
}

export interface TestGateway {
  url: string;
  gateway: Gateway;
  client: LogStreamClient;
}

export class Rig {
  readonly nats: NatsServer;
  readonly #cleanups: Array<() => Promise<void> | void> = [];

  private constructor(nats: NatsServer) {
    this.nats = nats;
  }

  static async start(): Promise<Rig> {
    return new Rig(await NatsServer.start());
  }

  async connection(): Promise<NatsConnection> {
    const nc = await connect({ servers: this.nats.url });
    this.#cleanups.push(() => nc.close());
    return nc;
  }

  async compute(
    options: {
      maxEntries?: number;
      limits?: ConstructorParameters<typeof LogStreamServer>[0]["limits"];
    } = {},
  ): Promise<Compute> {
    const nc = await this.connection();
    const store = new MemoryLogStore({ maxEntriesPerExecution: options.maxEntries ?? 1_000_000 });
    const nodeId = uniqueId("compute");
    const server = new LogStreamServer({
      connection: nc,
      nodeId,
      source: store,
      batching: { lingerMs: 0 },
      ...(options.limits ? { limits: options.limits } : {}),
    });
    await server.start();
    this.#cleanups.push(() => server.close());
    return { nodeId, store, server, nc };
  }

  async gateway(
    options: Partial<GatewayOptions> & { clientOptions?: Partial<LogStreamClientOptions> } = {},
  ): Promise<TestGateway> {
    const nc = await this.connection();
    const client = new LogStreamClient({
      connection: nc,
      nodeId: uniqueId("gw"),
      ...options.clientOptions,
    });
    this.#cleanups.push(() => client.close());
    await nc.flush();
    const { clientOptions: _, ...rest } = options;
    const gateway = await createGateway({ client, connection: nc, ...rest });
    this.#cleanups.push(() => gateway.close());
    const url = await gateway.listen("127.0.0.1", 0);
    return { url, gateway, client };
  }

  async cleanup(): Promise<void> {
    for (const cleanup of this.#cleanups.splice(0).reverse()) await cleanup();
  }

  async stop(): Promise<void> {
    await this.cleanup();
    await this.nats.stop();
  }
}

/** Appends `count` lines `line 1..count` (alternating stdout and stderr every 10th line). */
export async function appendLines(
  store: MemoryLogStore,
  executionId: string,
  count: number,
  from = 1,
) {
  for (let i = from; i < from + count; i++) {
    await store.append(executionId, i % 10 === 0 ? "stderr" : "stdout", `line ${i}`);
  }
}
