// What to tell a person about a running gateway: the web view's deep link and a curl command
// for an execution (the showcase and the CLI print these).

export interface LinkTarget {
  /** The gateway's base URL (RunningGateway.url). */
  url: string;
  executionId: string;
  computeNodeId: string;
  /** Put `-H "Authorization: Bearer $TAILWIRE_TOKEN"` in the curl command (never the token itself). */
  authenticated?: boolean;
}

export interface GatewayLinks {
  /** Opens the web view on this execution (the token, if any, is typed into the page). */
  page: string;
  /** Follows the execution's log as text in a terminal. */
  curl: string;
  /** The same as server-sent events. */
  curlSse: string;
}

const shellQuote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`;

export function gatewayLinks(target: LinkTarget): GatewayLinks {
  const base = target.url.replace(/\/$/, "");
  const execution = encodeURIComponent(target.executionId);
  const node = encodeURIComponent(target.computeNodeId);
  const logs = `${base}/v1/executions/${execution}/logs?node=${node}&follow=true`;
  const auth = target.authenticated ? ` -H "Authorization: Bearer $TAILWIRE_TOKEN"` : "";
  return {
    page: `${base}/#/executions/${execution}?node=${node}`,
    curl: `curl -N${auth} ${shellQuote(logs)}`,
    curlSse: `curl -N${auth} -H 'Accept: text/event-stream' ${shellQuote(logs)}`,
  };
}
