// nats-server's ports file: where it is, waiting for it (the readiness signal), reading the ports.
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { pollUntil } from "./deadline.js";

/** The content of the file `--ports_file_dir` makes nats-server write once it listens. */
export interface NatsPorts {
  nats: string[];
  monitoring?: string[];
  cluster?: string[];
  websocket?: string[];
  leafnodes?: string[];
}

/** `<executable name>_<pid>.ports`, as nats-server names it. */
export function portsFilePath(dir: string, binary: string, pid: number): string {
  return join(dir, `${basename(binary)}_${pid}.ports`);
}

async function tryRead(path: string): Promise<NatsPorts | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return undefined; // Not written yet.
  }
  // The server does not write the file atomically; a half-written file is "not yet".
  try {
    const ports = JSON.parse(text) as NatsPorts;
    return Array.isArray(ports.nats) && ports.nats.length > 0 ? ports : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Polls for the ports file. The server writes it after all listeners (clients, monitor,
 * routes) are bound, so its appearance doubles as the readiness signal. `abort` lets the
 * caller stop early when the process has already exited.
 */
export function waitForPortsFile(
  path: string,
  timeoutMs: number,
  abort: () => Error | undefined,
): Promise<NatsPorts> {
  return pollUntil(() => tryRead(path), {
    timeoutMs,
    intervalMs: 10,
    what: `nats-server ports file ${path}`,
    abort,
  });
}

/** Extracts the port of the first URL in `urls`. */
export function portOf(urls: string[] | undefined): number | undefined {
  const first = urls?.[0];
  return first === undefined ? undefined : Number(new URL(first).port);
}
