// The web log view's entry point: the open form and deep links (#/executions/<id>?node=...,
// #/jobs/<id>),
// the toolbar (follow, timestamps, filter, download, reconnect) and the connection state.
import { type ConnectionState, LogConnection, type StreamTarget } from "./log-connection.js";
import { LogModel } from "./log-model.js";
import { LogView } from "./log-view.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>("open");
const executionInput = $<HTMLInputElement>("execution");
const nodeInput = $<HTMLInputElement>("node");
const jobInput = $<HTMLInputElement>("job");
const tailInput = $<HTMLInputElement>("tail");
const tokenInput = $<HTMLInputElement>("token");
const status = $<HTMLSpanElement>("status");
const followBox = $<HTMLInputElement>("follow");
const timestampsBox = $<HTMLInputElement>("timestamps");
const filterInput = $<HTMLInputElement>("filter");
const count = $<HTMLSpanElement>("count");
const download = $<HTMLButtonElement>("download");
const reconnect = $<HTMLButtonElement>("reconnect");

const model = new LogModel();
const view = new LogView($("viewport"), $("spacer"), model, (follow) => {
  followBox.checked = follow;
});
let connection: LogConnection | undefined;
let target: StreamTarget | undefined;
let state: ConnectionState | "idle" = "idle";
let exitCode: number | null | undefined;
let lastError: { code: string; message: string } | undefined;
let openedAt = 0;
let firstLineMs: number | undefined;

// The token lives in this tab's sessionStorage: never in the URL, gone when the tab closes.
const TOKEN_KEY = "tailwire.token";
tokenInput.value = sessionStorage.getItem(TOKEN_KEY) ?? "";

function setState(next: ConnectionState, detail: string): void {
  state = next;
  status.dataset.state = next;
  status.textContent = detail ? `${next}: ${detail}` : next;
  reconnect.hidden = next !== "error";
}

function open(next: StreamTarget): void {
  connection?.stop();
  model.clear();
  exitCode = undefined;
  lastError = undefined;
  firstLineMs = undefined;
  openedAt = performance.now();
  target = next;
  view.setFollow(true);
  followBox.checked = true;
  view.update();
  connection = new LogConnection(next, {
    entries(batch) {
      if (model.add(batch) > 0) {
        firstLineMs ??= performance.now() - openedAt;
        count.textContent = `${model.entries.length} lines`;
        view.update();
      }
    },
    state: setState,
    end(code) {
      exitCode = code;
      setState("ended", `exit code ${code ?? "unknown"}`);
    },
    error(error) {
      lastError = { code: error.code, message: error.message };
      setState("error", `${error.code}: ${error.message}`);
    },
  });
  connection.start();
}

/**
 * Deep links: #/executions/<id>?node=<computeNodeId>&tail=<n>&follow=false (no node: located),
 * #/jobs/<id>?tail=<n>&follow=false (every execution of the job).
 */
function fromHash(): StreamTarget | undefined {
  const match = /^#\/(executions|jobs)\/([^?]+)(?:\?(.*))?$/.exec(location.hash);
  if (!match) return undefined;
  const id = decodeURIComponent(match[2]!);
  const query = new URLSearchParams(match[3] ?? "");
  const tail = query.get("tail");
  const common = {
    tail: tail === null || tail === "" ? undefined : Number(tail),
    follow: query.get("follow") !== "false",
    token: tokenInput.value || undefined,
  };
  return match[1] === "jobs"
    ? { kind: "job", jobId: id, ...common }
    : { kind: "execution", executionId: id, node: query.get("node") ?? "", ...common };
}

function openFromHash(): void {
  const next = fromHash();
  if (!next) return;
  executionInput.value = next.kind === "execution" ? next.executionId : "";
  nodeInput.value = next.kind === "execution" ? next.node : "";
  jobInput.value = next.kind === "job" ? next.jobId : "";
  tailInput.value = next.tail === undefined ? "" : String(next.tail);
  open(next);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, tokenInput.value);
  const query = new URLSearchParams();
  const job = jobInput.value.trim();
  const node = nodeInput.value.trim();
  if (job === "" && node !== "") query.set("node", node);
  if (tailInput.value !== "") query.set("tail", tailInput.value);
  const hash =
    job === ""
      ? `#/executions/${encodeURIComponent(executionInput.value.trim())}?${query}`
      : `#/jobs/${encodeURIComponent(job)}?${query}`;
  if (location.hash === hash) openFromHash();
  else location.hash = hash; // hashchange opens it
});
window.addEventListener("hashchange", openFromHash);

followBox.addEventListener("change", () => {
  view.setFollow(followBox.checked);
  if (view.follow) view.scrollToEnd();
});
timestampsBox.addEventListener("change", () => {
  view.setTimestamps(timestampsBox.checked);
});
filterInput.addEventListener("input", () => {
  model.setFilter(filterInput.value);
  view.refresh();
});
download.addEventListener("click", () => {
  const blob = new Blob([model.text(timestampsBox.checked)], { type: "text/plain" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `${target === undefined ? "log" : target.kind === "job" ? target.jobId : target.executionId}.log`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
});
reconnect.addEventListener("click", () => {
  if (target) open(target);
});

// For tests and debugging: read-only facts about what the page holds and shows.
Object.defineProperty(window, "tailwireView", {
  value: Object.freeze({
    state: () => ({
      state,
      status: status.textContent,
      lines: model.entries.length,
      lastSeq: model.lastSeq,
      duplicates: model.duplicates,
      exitCode,
      error: lastError,
      domRows: view.domRows,
      follow: view.follow,
      firstLineMs,
    }),
    seqs: () => model.entries.map((e) => e.seq),
    executions: () => model.entries.map((e) => e.executionId),
    lines: () => model.entries.map((e) => e.line),
  }),
});

openFromHash();
