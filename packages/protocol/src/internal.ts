// The internal entry point (`@tailwire/protocol/internal`): what tailwire's own packages share
// but users must not rely on. Nothing here is covered by semver; it may change in any release.
export { dataFrameEnvelopeBytes } from "./v1/data-frame-encoder.js";
export { deltaChars as timeDeltaChars } from "./v1/time-deltas.js";
