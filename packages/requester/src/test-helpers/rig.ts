import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { LogEntry } from "@tailwire/protocol";
import { NatsServer, withDeadline } from "@tailwire/testkit";
import { LogStreamClient } from "../client.js";
import type { LogStream } from "../log-stream.js";
import { isRemovedNotice } from "../notices.js";
import type { LogStreamClientOptions } from "../options.js";
import { FakeCompute } from "./fake-compute.js";

/** A node id no other test uses, so tests sharing a server never see each other's traffic. */
export const uniqueId = (prefix: string): string => `${prefix}-${randomBytes(4).toString("hex")}`;

/** One nats-server for a test file, plus the clients and fake compute nodes its tests open. */
export class Rig {
  readonly server: NatsServer;
  readonly #cleanups: Array<() => Promise<void> | void> = [];

  private constructor(server: NatsServer) {
    this.server = server;
  }

  static async start(): Promise<Rig> {
    return new Rig(await NatsServer.start());
  }

  async connection(): Promise<NatsConnection> {
    const nc = await connect({ servers: this.server.url });
    this.#cleanups.push(() => nc.close());
    return nc;
  }

  async client(
    options: Partial<LogStreamClientOptions> = {},
  ): Promise<{ client: LogStreamClient; nc: NatsConnection }> {
    const nc = options.connection ?? (await this.connection());
    // Resume is off unless a test asks for it: most tests look at one attempt's wire behaviour.
    // The fake compute node speaks v1 (the wire these tests check), so the client does too.
    const client = new LogStreamClient({
      nodeId: uniqueId("req"),
      resume: false,
      protocol: "v1",
      ...options,
      connection: nc,
    });
    this.#cleanups.push(() => client.close());
    await nc.flush(); // the client's subscriptions are live before a fake compute heartbeats it
    return { client, nc };
  }

  async compute(nodeId = uniqueId("compute")): Promise<FakeCompute> {
    const fake = await FakeCompute.start(this.server.url, nodeId);
    this.#cleanups.push(() => fake.close());
    return fake;
  }

  /** Closes what the current test opened (the server stays for the next test). */
  async cleanup(): Promise<void> {
    for (const cleanup of this.#cleanups.splice(0).reverse()) await cleanup();
  }

  async stop(): Promise<void> {
    await this.cleanup();
    await this.server.stop();
  }
}

/**
 * Drains a stream: every entry delivered, and the error iteration threw (if any). The deadline
 * turns a stream that never ends (the bug these tests look for) into a quick, clear failure.
 */
export function collect(
  stream: LogStream,
  timeoutMs = 10_000,
): Promise<{ entries: LogEntry[]; error: unknown }> {
  const drain = async () => {
    const entries: LogEntry[] = [];
    try {
      for await (const entry of stream) if (!isRemovedNotice(entry)) entries.push(entry);
      return { entries, error: undefined };
    } catch (error) {
      return { entries, error };
    }
  };
  return withDeadline(drain(), timeoutMs, `stream ${stream.streamId} to end`);
}
