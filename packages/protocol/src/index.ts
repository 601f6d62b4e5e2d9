// @tailwire/protocol's public API (what sibling packages share but users must not rely on is in
// internal.ts).
export * from "./errors.js";
export * from "./ids.js";
export * from "./locate-subjects.js";
export * from "./logger.js";
export * from "./subjects.js";
export * from "./v1/codec.js";
export * from "./v1/compression.js";
export { EntryJoiner, joinDataFrames } from "./v1/frame-entries.js";
export * from "./v1/heartbeat-timing.js";
export { jsonSchemaV1 } from "./v1/json-schema.js";
export { rejectionInbox } from "./v1/rejection-inbox.js";
export * from "./v1/schemas.js";
export * from "./v2/codec.js";
export { jsonSchemaV2 } from "./v2/json-schema.js";
export { rejectionInboxV2 } from "./v2/rejection-inbox.js";
export * from "./v2/schemas.js";
export * from "./v2/subjects.js";
export { type ProtocolVersion, SUPPORTED_VERSIONS } from "./versions.js";
