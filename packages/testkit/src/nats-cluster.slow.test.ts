import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it, vi } from "vitest";
import { NatsCluster } from "./nats-cluster.js";
import { collect } from "./test-helpers/nats.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function client(url: string) {
  const nc: NatsConnection = await connect({ servers: url, reconnect: false });
  cleanups.push(() => nc.close());
  return nc;
}

interface Routez {
  num_routes: number;
  routes: { remote_id: string }[];
}

/**
 * Publishes on `from` until `to`'s subscriber receives: subscription interest travels
 * across routes asynchronously, so a single early publish could legitimately be dropped.
 */
async function expectDelivered(cluster: NatsCluster, from: number, to: number, subject: string) {
  const sub = await client(cluster.server(to).url);
  const received = collect(sub, subject);
  await sub.flush();
  const pub = await client(cluster.server(from).url);
  await vi.waitFor(
    async () => {
      pub.publish(subject, `${from}->${to}`);
      await pub.flush();
      expect(received).toContain(`${from}->${to}`);
    },
    { timeout: 10_000, interval: 50 },
  );
}

describe("NatsCluster", () => {
  it("forms a 3-node full mesh and routes messages between members", async () => {
    const cluster = await NatsCluster.start({ size: 3 });
    cleanups.push(() => cluster.stop());

    expect(cluster.servers).toHaveLength(3);
    expect(cluster.urls).toEqual(cluster.servers.map((s) => s.url));
    expect(new Set(cluster.urls).size).toBe(3);

    const ids = new Set<string>();
    for (const server of cluster.servers) {
      const routez = await server.monitor<Routez>("routez");
      expect(routez.num_routes).toBe(2);
      for (const route of routez.routes) ids.add(route.remote_id);
      const varz = await server.monitor<{ server_name: string; cluster: { name: string } }>("varz");
      expect(varz.cluster.name).toBe(cluster.name);
      expect(varz.server_name).toBe(`${cluster.name}-${cluster.servers.indexOf(server)}`);
    }
    expect(ids.size).toBe(3); // every member is somebody's peer

    await expectDelivered(cluster, 0, 2, "cluster.hello");
  });

  it("re-forms after members are killed and restarted on their old ports", async () => {
    await using cluster = await NatsCluster.start({ size: 3 });
    const member1 = cluster.server(1);
    const before = { port: member1.port, clusterPort: member1.clusterPort, pid: member1.pid };

    await cluster.kill(1);
    expect(member1.running).toBe(false);
    // The survivors drop the dead route.
    await cluster.waitForRoutes();
    expect((await cluster.server(0).monitor<Routez>("routez")).num_routes).toBe(1);

    await cluster.restart(1);
    expect(member1.pid).not.toBe(before.pid);
    expect({ port: member1.port, clusterPort: member1.clusterPort }).toEqual({
      port: before.port,
      clusterPort: before.clusterPort,
    });
    for (const server of cluster.servers) {
      expect((await server.monitor<Routez>("routez")).num_routes).toBe(2);
    }
    await expectDelivered(cluster, 0, 1, "cluster.after.restart");

    // The seed is special (it has no routes of its own); the others must find it again.
    await cluster.kill(0);
    await cluster.restart(0);
    await expectDelivered(cluster, 2, 0, "cluster.after.seed.restart");
  });
});
