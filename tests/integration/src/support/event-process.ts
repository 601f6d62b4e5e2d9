// The test side of the fixture scripts' JSON-line convention, shared by the chaos, scale and
// resume harnesses (they each had their own copy of it): a fixture is `node script.mjs '<json
// config>'`, prints one JSON object per stdout line with `ev` first and `id` second (so a test
// waits for the prefix `{"ev":"ended","id":"s1",`), and takes one command per stdin line.
// support/json-lines.mjs is the script side.
import { NodeProcess } from "@tailwire/testkit";

/** One line a fixture printed. */
export interface ProcessEvent {
  ev: string;
  id: string;
  [field: string]: unknown;
}

/** An event from a fixture that stamps every line (the chaos and scale fixtures). */
export interface TimedEvent extends ProcessEvent {
  /** Date.now() in the process that printed it. */
  t: number;
}

/** Starts `script` with `config` as its one argument and waits for its ready line. */
export function startScript(
  script: URL,
  config: unknown,
  options: { readyTimeoutMs: number; readyLine?: string; nodeArgs?: string[] },
): Promise<NodeProcess> {
  return NodeProcess.start({
    script,
    args: [JSON.stringify(config)],
    ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
    readyLine: options.readyLine ?? '{"ev":"ready"',
    readyTimeoutMs: options.readyTimeoutMs,
  });
}

/** A fixture process: commands in, JSON events (`Ev` unless a call says otherwise) out. */
export class EventProcess<Ev extends ProcessEvent = ProcessEvent> {
  readonly proc: NodeProcess;

  constructor(proc: NodeProcess) {
    this.proc = proc;
  }

  send(command: string): void {
    this.proc.stdin.write(`${command}\n`);
  }

  /** The first event `ev` about `id`, already printed or future. */
  async event<E extends Ev = Ev>(ev: string, id: string, timeoutMs = 10_000): Promise<E> {
    const line = await this.proc.waitForLine(
      `{"ev":${JSON.stringify(ev)},"id":${JSON.stringify(id)},`,
      timeoutMs,
    );
    return JSON.parse(line) as E;
  }

  /** Every event `ev` printed so far (about `id`, if given). */
  events<E extends Ev = Ev>(ev: string, id?: string): E[] {
    const prefix = `{"ev":${JSON.stringify(ev)},`;
    const found: E[] = [];
    for (const line of this.proc.stdoutLines) {
      if (!line.startsWith(prefix)) continue;
      const event = JSON.parse(line) as E;
      if (id === undefined || event.id === id) found.push(event);
    }
    return found;
  }

  output(): string {
    return this.proc.output();
  }
}
