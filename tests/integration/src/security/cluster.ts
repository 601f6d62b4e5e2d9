// Shared setup of the security tests: one nats-server with tailwire's authorization (and
// TLS), and helpers to connect as a role and to observe permission violations.
import { randomBytes } from "node:crypto";
import {
  type AddressInfo,
  createConnection,
  createServer,
  type Server,
  type Socket,
} from "node:net";
import {
  type ConnectionOptions,
  connect,
  type NatsConnection,
  PermissionViolationError,
  type Status,
  type Subscription,
} from "@nats-io/transport-node";
import {
  authorizationConfig,
  computeInboxPrefix,
  createTestCA,
  NatsServer,
  type PermissionTable,
  type RoleUser,
  type TestCA,
  tlsConfig,
  withDeadline,
} from "@tailwire/testkit";

export const REQUESTERS = ["req-1", "req-2"] as const;
export const COMPUTES = ["compute-a", "compute-b"] as const;
export type RequesterId = (typeof REQUESTERS)[number];
export type ComputeId = (typeof COMPUTES)[number];

function roleUser(role: string, id: string): RoleUser {
  return { id, user: `${role}-${id}`, password: randomBytes(16).toString("hex") };
}

/** A TLS nats-server whose only users are two requesters and two compute nodes (one table). */
export class SecureNats {
  readonly requesters: Record<RequesterId, RoleUser>;
  readonly computes: Record<ComputeId, RoleUser>;
  readonly #opened: NatsConnection[] = [];

  private constructor(
    readonly server: NatsServer,
    readonly ca: TestCA,
    users: { requesters: Record<RequesterId, RoleUser>; computes: Record<ComputeId, RoleUser> },
  ) {
    this.requesters = users.requesters;
    this.computes = users.computes;
  }

  /** `table`: which permission table of SECURITY.md the users get (default v1). */
  static async start(table: PermissionTable = "v1"): Promise<SecureNats> {
    const ca = await createTestCA();
    const requesters = {
      "req-1": roleUser("requester", "req-1"),
      "req-2": roleUser("requester", "req-2"),
    };
    const computes = {
      "compute-a": roleUser("compute", "compute-a"),
      "compute-b": roleUser("compute", "compute-b"),
    };
    try {
      const server = await NatsServer.start({
        config: {
          ...authorizationConfig({
            requesters: Object.values(requesters),
            computes: Object.values(computes),
            table,
          }),
          ...tlsConfig(ca),
        },
      });
      return new SecureNats(server, ca, { requesters, computes });
    } catch (error) {
      await ca.remove();
      throw error;
    }
  }

  get url(): string {
    return this.server.url;
  }

  /** Connection options of a user: TLS trusting the test CA, its login, no reconnect. */
  options(user: RoleUser | undefined, extra: Partial<ConnectionOptions> = {}): ConnectionOptions {
    return {
      servers: this.url,
      tls: { caFile: this.ca.caFile },
      ...(user ? { user: user.user, pass: user.password } : {}),
      reconnect: false,
      ...extra,
    };
  }

  async requester(id: RequesterId, extra: Partial<ConnectionOptions> = {}) {
    return this.#open(this.options(this.requesters[id], { name: id, ...extra }));
  }

  /** A compute node's connection, with the per-node inbox prefix its permissions expect. */
  async compute(id: ComputeId, extra: Partial<ConnectionOptions> = {}) {
    return this.#open(
      this.options(this.computes[id], { name: id, inboxPrefix: computeInboxPrefix(id), ...extra }),
    );
  }

  async #open(options: ConnectionOptions): Promise<Watched> {
    const nc = await connect(options);
    this.#opened.push(nc);
    return watch(nc);
  }

  /** Closes every connection opened since the last call. */
  async closeConnections(): Promise<void> {
    await Promise.all(this.#opened.splice(0).map((nc) => nc.close().catch(() => undefined)));
  }

  async stop(): Promise<void> {
    await this.closeConnections();
    await this.server.stop();
    await this.ca.remove();
  }
}

/** A connection whose status events are all recorded from the start. */
export interface Watched {
  nc: NatsConnection;
  /** Every permission violation the server reported to this connection so far. */
  violations: PermissionViolationError[];
  /** Resolves with the first violation (past or future) matching operation and subject. */
  violation(
    operation: "publish" | "subscription",
    subject: string,
  ): Promise<PermissionViolationError>;
}

function isViolation(status: Status): PermissionViolationError | undefined {
  if (status.type !== "error") return undefined;
  return status.error instanceof PermissionViolationError ? status.error : undefined;
}

export function watch(nc: NatsConnection): Watched {
  const violations: PermissionViolationError[] = [];
  const waiters: {
    match: (v: PermissionViolationError) => boolean;
    resolve: (v: PermissionViolationError) => void;
  }[] = [];
  void (async () => {
    for await (const status of nc.status()) {
      const violation = isViolation(status);
      if (!violation) continue;
      violations.push(violation);
      for (const waiter of waiters.filter((w) => w.match(violation))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(violation);
      }
    }
  })();
  return {
    nc,
    violations,
    violation(operation, subject) {
      const match = (v: PermissionViolationError) =>
        v.operation === operation && v.subject === subject;
      const seen = violations.find(match);
      if (seen) return Promise.resolve(seen);
      return withDeadline(
        new Promise((resolve) => waiters.push({ match, resolve })),
        10_000,
        `a ${operation} violation on ${subject}`,
      );
    },
  };
}

/** Subscribes and collects payloads; `next(n)` waits until at least n arrived. */
export function inbox(nc: NatsConnection, subject: string) {
  const received: { subject: string; data: string; reply: string | undefined }[] = [];
  const listeners = new Set<() => void>();
  const sub = nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err) return;
      received.push({ subject: msg.subject, data: msg.string(), reply: msg.reply });
      for (const listener of listeners) listener();
    },
  });
  return {
    sub,
    received,
    async next(count: number, timeoutMs = 10_000) {
      if (received.length >= count) return received.slice(0, count);
      const arrived = new Promise<void>((resolve) => {
        const listener = () => {
          if (received.length < count) return;
          listeners.delete(listener);
          resolve();
        };
        listeners.add(listener);
      });
      await withDeadline(arrived, timeoutMs, `${count} messages on ${subject}`);
      return received.slice(0, count);
    },
  };
}

/**
 * A TCP relay in front of the server: `cut()` stops listening and destroys every relayed
 * socket at once, the way a crashed host or a partition ends a connection (no goodbye, no
 * GOING_AWAY). TLS passes through untouched.
 */
export class TcpCut {
  private constructor(
    readonly server: Server,
    readonly port: number,
    readonly sockets: Set<Socket>,
  ) {}

  static async start(targetPort: number): Promise<TcpCut> {
    const sockets = new Set<Socket>();
    const server = createServer((downstream) => {
      const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
      for (const socket of [downstream, upstream]) {
        sockets.add(socket);
        socket.on("error", () => undefined);
        socket.on("close", () => {
          sockets.delete(socket);
          downstream.destroy();
          upstream.destroy();
        });
      }
      downstream.pipe(upstream);
      upstream.pipe(downstream);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return new TcpCut(server, (server.address() as AddressInfo).port, sockets);
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Stops accepting and destroys every relayed connection. */
  cut(): void {
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
  }
}

/** What a subscription closed with; fails after 10 s if the server let it stand. */
export async function closedWith(
  sub: Subscription,
  what = sub.getSubject(),
): Promise<Error | undefined> {
  const reason = await withDeadline(sub.closed, 10_000, `the subscription to ${what} to be closed`);
  return reason instanceof Error ? reason : undefined;
}
