/**
 * An orchestrator's own Fastify server with the tailwire gateway inside it: execution logs at
 * /logs/v1/executions/<id>/logs (SSE, ndjson, text), the web view at /logs/, and the
 * orchestrator's own identities checked by `authorize`.
 *
 *   NATS_URL=nats://127.0.0.1:4222 npx tsx examples/embed-gateway.ts
 *
 * The test suite runs `main` against a real nats-server and compute node (src/readme-example).
 */
import { pathToFileURL } from "node:url";
import { connect } from "@nats-io/transport-node";
import { tailwireGateway } from "@tailwire/gateway";
import { LogStreamClient } from "@tailwire/requester";
import Fastify from "fastify";

export interface EmbedOptions {
  servers: string | string[];
  port?: number;
  /** Which user may read which job or execution (by id): the orchestrator's rule, a plain map. */
  owners: Record<string, string>;
}

export async function main(
  options: EmbedOptions,
): Promise<{ url: string; close(): Promise<void> }> {
  const nc = await connect({ servers: options.servers });
  const client = new LogStreamClient({ connection: nc, nodeId: "orchestrator-1" });
  const app = Fastify({ maxParamLength: 256 }); // execution ids are up to 200 characters
  await app.register(tailwireGateway, {
    prefix: "/logs",
    client,
    connection: nc,
    // The orchestrator authenticates its users itself (here: an X-User header set by its proxy).
    // Asked with { executionId, computeNodeId } for an execution's logs, { jobId } for a job's.
    authorize: (request, target) =>
      options.owners[target.jobId ?? target.executionId] === request.headers["x-user"],
  });
  await app.listen({ host: "127.0.0.1", port: options.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  return {
    url: `http://127.0.0.1:${port}/logs`,
    async close() {
      await client.close(); // ends open streams first (clients get a retryable GOING_AWAY)
      await app.close();
      await nc.close();
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { url } = await main({
    servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
    port: 8080,
    owners: { "e-42": "alice" },
  });
  console.log(
    `curl -H 'X-User: alice' '${url}/v1/executions/e-42/logs?node=compute-7&follow=true'`,
  );
}
