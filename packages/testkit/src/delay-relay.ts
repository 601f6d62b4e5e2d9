// A delaying TCP relay: every connection to it is forwarded to a target with each chunk held a
// fixed time in each direction, so a test (or a benchmark) gets a path with a real round trip
// on loopback. It delays, it does not limit the rate (tc's tbf can, where the kernel has it).
import { createConnection, createServer, type Server, type Socket } from "node:net";

export interface DelayRelayOptions {
  /** Where connections go, e.g. a NatsServer's host and port. */
  targetHost: string;
  targetPort: number;
  /** How long each chunk is held, each way: the round trip grows by twice this. */
  oneWayDelayMs: number;
  /** Bytes held per direction before the source is paused (default 32 MiB), like a link's buffer. */
  maxHeldBytes?: number;
}

/** Copies `from` to `to`, each chunk `delayMs` late, in order; pauses `from` past `maxHeld`. */
function delayedPipe(from: Socket, to: Socket, delayMs: number, maxHeld: number): void {
  const queue: ({ due: number; chunk: Buffer } | undefined)[] = [];
  let head = 0;
  let held = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    const now = performance.now();
    for (let next = queue[head]; next !== undefined && next.due <= now; next = queue[head]) {
      queue[head++] = undefined;
      held -= next.chunk.length;
      if (!to.destroyed) to.write(next.chunk);
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    }
    if (held < maxHeld / 2 && from.isPaused()) from.resume();
    const next = queue[head];
    if (next !== undefined) timer = setTimeout(flush, Math.max(0, next.due - now));
  };
  from.on("data", (chunk: Buffer) => {
    queue.push({ due: performance.now() + delayMs, chunk });
    held += chunk.length;
    if (held > maxHeld) from.pause();
    if (timer === undefined) timer = setTimeout(flush, delayMs);
  });
  from.on("end", () => {
    const finish = (): void => {
      if (head < queue.length) setTimeout(finish, delayMs);
      else to.end();
    };
    finish();
  });
}

/** A running relay on 127.0.0.1; `url` is a nats:// URL for it. Close it when done. */
export class DelayRelay {
  readonly port: number;
  readonly #server: Server;
  readonly #sockets: Set<Socket>;

  private constructor(server: Server, port: number, sockets: Set<Socket>) {
    this.#server = server;
    this.port = port;
    this.#sockets = sockets;
  }

  static start(options: DelayRelayOptions): Promise<DelayRelay> {
    const maxHeld = options.maxHeldBytes ?? 32 * 1024 * 1024;
    const sockets = new Set<Socket>();
    const server = createServer({ noDelay: true }, (client) => {
      const upstream = createConnection({
        host: options.targetHost,
        port: options.targetPort,
        noDelay: true,
      });
      sockets.add(client);
      sockets.add(upstream);
      const close = (): void => {
        for (const socket of [client, upstream]) {
          socket.destroy();
          sockets.delete(socket);
        }
      };
      for (const socket of [client, upstream]) {
        socket.on("error", close);
        socket.on("close", close);
      }
      delayedPipe(client, upstream, options.oneWayDelayMs, maxHeld);
      delayedPipe(upstream, client, options.oneWayDelayMs, maxHeld);
    });
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        if (address === null || typeof address === "string") {
          reject(new Error("the relay has no TCP address"));
          return;
        }
        resolve(new DelayRelay(server, address.port, sockets));
      });
    });
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Stops listening and drops every relayed connection. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
