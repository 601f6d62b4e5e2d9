// @tailwire/compute's public API.
export {
  type CaptureProcessOptions,
  type CaptureProcessResult,
  captureProcess,
} from "./capture-process.js";
export {
  type CatalogChange,
  type CreateOptions,
  type ExecutionCatalog,
  ExecutionDirectory,
  type ExecutionInfo,
  isExecutionCatalog,
} from "./execution-catalog.js";
export {
  LocateResponder,
  type LocateResponderOptions,
  type LocateResponderStats,
} from "./locate-responder.js";
export {
  isRemovedLines,
  type LogReader,
  type LogReadItem,
  type LogReadOptions,
  type LogSource,
  type LogStore,
  type ReadOptions,
  type RemovedLines,
} from "./log-source.js";
export {
  DEFAULTS,
  type EndCause,
  LogStreamServer,
  type LogStreamServerLimits,
  type LogStreamServerOptions,
  type LogStreamServerStats,
  type RequesterStats,
  type VersionStats,
} from "./log-stream-server.js";
export { FileLogStore, type FileLogStoreOptions } from "./stores/file-log-store.js";
export { MemoryLogStore, type MemoryLogStoreOptions } from "./stores/memory-log-store.js";
export {
  FILE_RETENTION_DEFAULTS,
  MEMORY_RETENTION_DEFAULTS,
  type RetentionLimits,
  type RetentionOptions,
  type StoreUsage,
} from "./stores/retention-limits.js";
