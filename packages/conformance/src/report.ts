// The conformance report: one outcome per rule of the catalogue, printed one line per rule.
import { RULES, type Rule, type RuleMode } from "./rules.js";

export type Outcome = "PASS" | "FAIL" | "N/A";

export interface RuleResult {
  id: string;
  /** The PROTOCOL.md section the rule comes from. */
  section: string;
  outcome: Outcome;
  detail: string;
}

export interface ConformanceReport {
  mode: RuleMode;
  /** The node id of the implementation under test (compute mode) or the one played (requester mode). */
  nodeId: string;
  passed: number;
  failed: number;
  notCheckable: number;
  /** True when no rule failed. */
  ok: boolean;
  results: RuleResult[];
}

interface Tally {
  checks: number;
  failures: string[];
  lastPass: string | undefined;
}

/**
 * Collects checks: a rule may be checked many times (every frame, every window); it passes when
 * no check failed, and a rule that was never checked fails ("not exercised"), so a scenario that
 * broke off early cannot make rules pass by omission.
 */
export class Recorder {
  readonly mode: RuleMode;
  readonly #rules: readonly Rule[];
  readonly #tallies = new Map<string, Tally>();

  constructor(mode: RuleMode) {
    this.mode = mode;
    this.#rules = RULES.filter((rule) => rule.mode === mode);
  }

  /** Records one check of a rule; returns `ok` so callers can branch on it. */
  check(id: string, ok: boolean, detail: string): boolean {
    const rule = this.#rules.find((r) => r.id === id);
    if (!rule) throw new Error(`unknown ${this.mode} rule ${id}`);
    let tally = this.#tallies.get(id);
    if (!tally) {
      tally = { checks: 0, failures: [], lastPass: undefined };
      this.#tallies.set(id, tally);
    }
    tally.checks++;
    if (ok) tally.lastPass = detail;
    else tally.failures.push(detail);
    return ok;
  }

  pass(id: string, detail: string): void {
    this.check(id, true, detail);
  }

  fail(id: string, detail: string): void {
    this.check(id, false, detail);
  }

  /** `unexercised`: what a rule never checked gets (FAIL, or N/A when scenarios were left out). */
  report(nodeId: string, unexercised: "FAIL" | "N/A" = "FAIL"): ConformanceReport {
    const results = this.#rules.map((rule): RuleResult => {
      const base = { id: rule.id, section: rule.section };
      if (rule.notCheckable !== undefined) {
        return {
          ...base,
          outcome: "N/A",
          detail: `not checkable from outside: ${rule.notCheckable}`,
        };
      }
      const tally = this.#tallies.get(rule.id);
      if (!tally) {
        const why =
          unexercised === "FAIL" ? "not exercised" : "not run (its scenario was not selected)";
        return { ...base, outcome: unexercised, detail: `${why}: ${rule.title}` };
      }
      if (tally.failures.length > 0) {
        const more = tally.failures.length > 1 ? ` (and ${tally.failures.length - 1} more)` : "";
        return { ...base, outcome: "FAIL", detail: `${tally.failures[0]}${more}` };
      }
      const checks = tally.checks > 1 ? ` (${tally.checks} checks)` : "";
      return { ...base, outcome: "PASS", detail: `${tally.lastPass ?? rule.title}${checks}` };
    });
    const count = (outcome: Outcome) => results.filter((r) => r.outcome === outcome).length;
    return {
      mode: this.mode,
      nodeId,
      passed: count("PASS"),
      failed: count("FAIL"),
      notCheckable: count("N/A"),
      ok: count("FAIL") === 0,
      results,
    };
  }
}

/** One line per rule: `PASS|FAIL|N/A <rule-id> [<PROTOCOL.md section>] — <detail>`. */
export function formatReport(report: ConformanceReport): string {
  const lines = report.results.map(
    (r) => `${r.outcome} ${r.id} [${r.section}] — ${r.detail.replaceAll("\n", " ")}`,
  );
  lines.push(
    `${report.ok ? "OK" : "NOT CONFORMANT"}: ${report.passed} passed, ${report.failed} failed, ${report.notCheckable} not checkable from outside (${report.mode} mode, node ${report.nodeId})`,
  );
  return lines.join("\n");
}
