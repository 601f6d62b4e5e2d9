// The internal entry point (`@tailwire/protocol/internal`): what tailwire's own packages share
// but users must not rely on. Nothing here is covered by semver; it may change in any release.
export {
  type ConnectionStatusEvent,
  type ConnectionStatusHandlers,
  type ConnectionStatusWatch,
  watchConnectionStatus,
} from "./shared/connection-status.js";
export { integerOption } from "./shared/integer-option.js";
export { dataFrameEnvelopeBytes } from "./v1/data-frame-encoder.js";
export { deltaChars as timeDeltaChars } from "./v1/time-deltas.js";
