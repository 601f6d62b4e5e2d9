// The internal entry point (`@tailwire/protocol/internal`): what tailwire's own packages share
// but users must not rely on. Nothing here is covered by semver; it may change in any release.

export {
  type ConnectionStatusEvent,
  type ConnectionStatusHandlers,
  type ConnectionStatusWatch,
  watchConnectionStatus,
} from "./shared/connection-status.js";
export { integerOption } from "./shared/integer-option.js";
export {
  BODY_LAYOUT,
  type DataFrameLayout,
  LINE_COLUMN_LAYOUT,
  MAX_ENTRY_OVERHEAD_BYTES,
  seqBytes,
  timeDeltaChars,
} from "./v1/data-frame-size.js";
