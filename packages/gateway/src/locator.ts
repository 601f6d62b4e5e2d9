// Finding the compute node that holds an execution's log: the request may name it (`node`);
// otherwise the LogStreamClient's locator asks the compute nodes (or an orchestrator passes its own).
import type { LogStreamClient } from "@tailwire/requester";
import type { FastifyRequest } from "fastify";
import { GatewayError } from "./errors.js";

export interface LocateRequest {
  executionId: string;
  /** The `node` query parameter, if given (already checked to be a node id). */
  node: string | undefined;
}

/** Resolves to the compute node id; throws a GatewayError (e.g. EXECUTION_NOT_FOUND) otherwise. */
export type ExecutionLocator = (
  request: LocateRequest,
  http: FastifyRequest,
) => string | Promise<string>;

/**
 * The default: `?node=` when given, else the client's locator (PROTOCOL.md, "Locating
 * executions"): exactly one compute node must hold the execution (404 EXECUTION_NOT_FOUND for
 * none, 409 EXECUTION_AMBIGUOUS for several).
 */
export function locateWith(client: LogStreamClient): ExecutionLocator {
  return async ({ executionId, node }, http) => {
    if (node !== undefined) return node;
    const found = await client.locator.locateExecution(executionId, {
      signal: abortedWhenClosed(http),
    });
    const nodes = [...new Set(found.map((e) => e.computeNodeId))];
    if (nodes.length === 0) {
      throw new GatewayError(
        "EXECUTION_NOT_FOUND",
        "no compute node holds this execution (name one with ?node= if it is not locatable)",
      );
    }
    if (nodes.length > 1) {
      throw new GatewayError(
        "EXECUTION_AMBIGUOUS",
        `several compute nodes hold this execution id: name one with ?node= (${nodes.join(", ")})`,
      );
    }
    return nodes[0] as string;
  };
}

/** A signal that aborts when the HTTP client goes away before the lookup ends. */
function abortedWhenClosed(http: FastifyRequest): AbortSignal {
  const controller = new AbortController();
  http.raw.once("close", () => controller.abort());
  return controller.signal;
}

/** The compute node must be named with `?node=` (for a gateway that must not look executions up). */
export const nodeFromQuery: ExecutionLocator = ({ node }) => {
  if (node === undefined) {
    throw new GatewayError(
      "BAD_REQUEST",
      "node is required: name the compute node that runs the execution (?node=<computeNodeId>)",
    );
  }
  return node;
};
