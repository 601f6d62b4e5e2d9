import { connect } from "@nats-io/transport-node";
import type { NatsServer } from "@tailwire/testkit";
import { LogStreamServer, type LogStreamServerOptions } from "../log-stream-server.js";
import { MemoryLogStore } from "../stores/memory-log-store.js";
import { TestRequester, type TestRequesterOptions } from "./test-requester.js";

export const NODE = "compute-1";

/** Closes everything a test opened, newest first, even when the test failed midway. */
export class Cleanups {
  readonly #tasks: (() => Promise<unknown>)[] = [];

  add(task: () => Promise<unknown>): void {
    this.#tasks.push(task);
  }

  async run(): Promise<void> {
    for (const task of this.#tasks.splice(0).reverse()) await task().catch(() => undefined);
  }
}

export interface Fixture {
  store: MemoryLogStore;
  server: LogStreamServer;
  requester: TestRequester;
}

/** A started LogStreamServer on its own connection, a MemoryLogStore and one plain requester. */
export async function startFixture(
  nats: NatsServer,
  cleanups: Cleanups,
  options: Partial<Omit<LogStreamServerOptions, "connection" | "source" | "nodeId">> = {},
  requesterOptions: TestRequesterOptions = {},
): Promise<Fixture> {
  const store = new MemoryLogStore();
  const connection = await connect({ servers: nats.url });
  cleanups.add(() => connection.close());
  const server = new LogStreamServer({ connection, nodeId: NODE, source: store, ...options });
  await server.start();
  cleanups.add(() => server.close());
  const requester = await addRequester(nats, cleanups, "req-1", requesterOptions);
  return { store, server, requester };
}

export async function addRequester(
  nats: NatsServer,
  cleanups: Cleanups,
  id: string,
  options: TestRequesterOptions = {},
): Promise<TestRequester> {
  const requester = await TestRequester.connect(nats.url, id, options);
  cleanups.add(() => requester.close());
  return requester;
}

/** Appends `count` lines "line <seq>" alternating stdout/stderr, time = base + seq. */
export async function fill(
  store: MemoryLogStore,
  executionId: string,
  count: number,
  base = 1_000_000,
): Promise<void> {
  await store.create(executionId);
  for (let i = 1; i <= count; i++) {
    await store.append(executionId, i % 2 ? "stdout" : "stderr", `line ${i}`, base + i);
  }
}
