// The protocol versions this package implements.
/** Protocol versions this package implements, oldest first. */
export const SUPPORTED_VERSIONS = ["v1", "v2"] as const;
export type ProtocolVersion = (typeof SUPPORTED_VERSIONS)[number];
