// The public API of @tailwire/conformance: both modes, the report, the rules, the seeds, the command.
export { main, USAGE } from "./cli.js";
export {
  COMPUTE_SCENARIOS,
  type ComputeConformanceOptions,
  type ComputeScenario,
  runComputeConformance,
} from "./compute/run-compute.js";
export { CONFORMANCE_LIMITS, type ConformanceLimits, REQUESTER_EXECUTIONS } from "./profile.js";
export { type ConformanceReport, formatReport, type Outcome, type RuleResult } from "./report.js";
export {
  type RequesterConformanceOptions,
  runRequesterConformance,
} from "./requester/run-requester.js";
export { RULES, type Rule, type RuleMode, rulesOf } from "./rules.js";
export {
  loadSeeds,
  readSeed,
  readSeeds,
  SEED_NAMES,
  type Seed,
  type SeedName,
  seedEntries,
  seedUrl,
  type WritableLogStore,
} from "./seeds.js";
