export type { LogReader, LogSource, LogStore, ReadOptions } from "./log-source.js";
