// @tailwire/gateway: execution logs over HTTP for people and browsers, on LogStreamClient.
export {
  checkListenSafety,
  type GatewayToken,
  isLoopbackHost,
  type Principal,
  parseListen,
  parseTokenFile,
  readTokenFile,
  TokenVerifier,
} from "./auth.js";
export { type GatewayCommandHooks, type GatewayCommandOptions, gatewayCommand } from "./command.js";
export {
  errorBody,
  GatewayConfigError,
  GatewayError,
  type GatewayErrorCode,
  type GatewayOnlyCode,
  statusOf,
  toGatewayError,
} from "./errors.js";
export { LIMIT_DEFAULTS, type StreamLimits } from "./limits.js";
export { type GatewayLinks, gatewayLinks, type LinkTarget } from "./links.js";
export {
  type ExecutionLocator,
  type LocateRequest,
  locateWith,
  nodeFromQuery,
} from "./locator.js";
export { GatewayMetrics } from "./metrics.js";
export {
  type AuthorizeHook,
  type AuthorizeTarget,
  type GatewayPluginOptions,
  tailwireGateway,
} from "./plugin.js";
export { type LogFormat, type LogQuery, negotiateFormat, parseLogQuery } from "./query.js";
export {
  createGateway,
  type Gateway,
  type GatewayOptions,
  MIN_WINDOW_BYTES,
  type RunGatewayOptions,
  type RunningGateway,
  runGateway,
} from "./server.js";
