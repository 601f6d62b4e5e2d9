// Finding the compute node that holds an execution's log. Today the request names it (`node`);
// an orchestrator that can look executions up passes its own locator instead.
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

/** The default: the compute node must be named with `?node=`. */
export const nodeFromQuery: ExecutionLocator = ({ node }) => {
  if (node === undefined) {
    throw new GatewayError(
      "BAD_REQUEST",
      "node is required: name the compute node that runs the execution (?node=<computeNodeId>)",
    );
  }
  return node;
};
