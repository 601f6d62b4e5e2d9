import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ConnectionOptions, connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { authorizationConfig } from "./nats-auth.js";
import { NatsServer } from "./nats-server.js";
import { createTestCA, type TestCA, tlsConfig } from "./test-ca.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function startServer(options: Parameters<typeof NatsServer.start>[0]) {
  const server = await NatsServer.start(options);
  cleanups.push(() => server.stop());
  return server;
}

async function client(options: ConnectionOptions): Promise<NatsConnection> {
  const nc = await connect(options);
  cleanups.push(() => nc.close());
  return nc;
}

/** The error a connection attempt fails with (fails the test if it succeeds). */
async function connectError(options: ConnectionOptions): Promise<Error> {
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ ...options, reconnect: false, timeout: 5_000 });
  } catch (error) {
    return error as Error;
  }
  await nc.close();
  throw new Error(`connecting with ${JSON.stringify(Object.keys(options))} unexpectedly worked`);
}

async function roundTrip(nc: NatsConnection): Promise<string> {
  const sub = nc.subscribe("echo", {
    max: 1,
    callback: (_err, msg) => {
      msg.respond(msg.data);
    },
  });
  cleanups.push(async () => sub.unsubscribe());
  return (await nc.request("echo", "ping", { timeout: 5_000 })).string();
}

const USERS = {
  requesters: [{ id: "r1", user: "requester-r1", password: "secret-r1" }],
  computes: [{ id: "c1", user: "compute-c1", password: "secret-c1" }],
  extraUsers: [{ user: "admin", password: "secret-admin" }],
};

describe("authorizationConfig on a real server", () => {
  it("admits each user with its password and nobody else", async () => {
    const server = await startServer({ config: authorizationConfig(USERS) });
    const admin = await client({ servers: server.url, user: "admin", pass: "secret-admin" });
    expect(await roundTrip(admin)).toBe("ping");
    for (const u of [...USERS.requesters, ...USERS.computes]) {
      const nc = await client({ servers: server.url, user: u.user, pass: u.password });
      await nc.flush();
      expect(nc.isClosed()).toBe(false);
    }
    const anonymous = await connectError({ servers: server.url });
    expect(anonymous.name).toBe("AuthorizationError");
    const wrong = await connectError({
      servers: server.url,
      user: "compute-c1",
      pass: "secret-r1",
    });
    expect(wrong.name).toBe("AuthorizationError");
    // The server logs both refusals (its log is read asynchronously, hence the wait).
    await vi.waitFor(() => {
      expect(server.logTail()).toMatch(/authentication error - User ""/);
      expect(server.logTail()).toMatch(/authentication error - User "compute-c1"/);
    });
  });
});

describe("createTestCA and tlsConfig", () => {
  let ca: TestCA;
  let otherCa: TestCA;
  beforeAll(async () => {
    [ca, otherCa] = await Promise.all([createTestCA(), createTestCA()]);
  });
  afterAll(async () => {
    await Promise.all([ca?.remove(), otherCa?.remove()]);
  });

  it("writes a CA, a server certificate for 127.0.0.1/localhost and a client certificate", async () => {
    for (const file of [
      ca.caFile,
      ca.caKeyFile,
      ca.serverCertFile,
      ca.serverKeyFile,
      ca.clientCertFile,
      ca.clientKeyFile,
    ]) {
      expect(existsSync(file), file).toBe(true);
    }
    const { X509Certificate } = await import("node:crypto");
    const caCert = new X509Certificate(await readFile(ca.caFile));
    const serverCert = new X509Certificate(await readFile(ca.serverCertFile));
    const clientCert = new X509Certificate(await readFile(ca.clientCertFile));
    expect(caCert.ca).toBe(true);
    expect(serverCert.verify(caCert.publicKey)).toBe(true);
    expect(clientCert.verify(caCert.publicKey)).toBe(true);
    expect(serverCert.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(serverCert.checkHost("localhost")).toBe("localhost");
    expect(serverCert.verify(new X509Certificate(await readFile(otherCa.caFile)).publicKey)).toBe(
      false,
    );
  });

  it("writes into a given directory and leaves it in place on remove()", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tailwire-ca-test-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const inDir = await createTestCA(join(dir, "nested"));
    expect(inDir.caFile).toBe(join(dir, "nested", "ca.pem"));
    await inDir.remove();
    expect(existsSync(inDir.caFile)).toBe(true);
    const owned = await createTestCA();
    await owned.remove();
    expect(existsSync(owned.dir)).toBe(false);
  });

  it("serves TLS with auth: a client trusting the CA connects, others cannot", async () => {
    const server = await startServer({
      config: { ...authorizationConfig(USERS), ...tlsConfig(ca) },
    });
    const login = { servers: server.url, user: "admin", pass: "secret-admin" };
    const nc = await client({ ...login, tls: { caFile: ca.caFile } });
    expect(await roundTrip(nc)).toBe("ping");
    expect(nc.info?.tls_required).toBe(true);
    // No trust configured: the self-signed CA is not in Node's store.
    expect((await connectError(login)).message).toMatch(/certificate|self.signed/i);
    // Trusting another CA.
    expect((await connectError({ ...login, tls: { caFile: otherCa.caFile } })).message).toMatch(
      /certificate|signature/i,
    );
    // TLS right, credentials missing.
    expect((await connectError({ servers: server.url, tls: { caFile: ca.caFile } })).name).toBe(
      "AuthorizationError",
    );
  });

  it("requires a client certificate issued by the CA with verifyClients", async () => {
    const server = await startServer({ config: tlsConfig(ca, { verifyClients: true }) });
    const nc = await client({
      servers: server.url,
      tls: { caFile: ca.caFile, certFile: ca.clientCertFile, keyFile: ca.clientKeyFile },
    });
    expect(await roundTrip(nc)).toBe("ping");
    await connectError({ servers: server.url, tls: { caFile: ca.caFile } });
    await connectError({
      servers: server.url,
      tls: {
        caFile: ca.caFile,
        certFile: otherCa.clientCertFile,
        keyFile: otherCa.clientKeyFile,
      },
    });
    await vi.waitFor(() => expect(server.logTail()).toMatch(/TLS handshake error/));
  });
});
