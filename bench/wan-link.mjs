// A constrained link built for real on this machine, for the wan benchmark: a network namespace
// (the far side: nats-server and the compute node) joined to this one (the requester's side) by
// a veth pair, both ends rate-limited by a tbf qdisc. tbf has no delay (the kernel here has no
// netem), so the delay comes from wan-relay.mjs, a delaying TCP relay on this side. Needs root
// (CAP_NET_ADMIN); `WanLink.unavailable()` says why when it cannot be built.
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

const run = (cmd, args) => execFileSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });

export class WanLink {
  /** Why this machine cannot build the link (a sentence), or undefined when it can. */
  static unavailable() {
    const name = `twprobe${process.pid}`;
    try {
      run("ip", ["netns", "add", name]);
    } catch (error) {
      return `network namespaces are not available (ip netns add: ${String(error.stderr ?? error.message).trim()})`;
    }
    try {
      run("ip", [
        "netns",
        "exec",
        name,
        "tc",
        "qdisc",
        "add",
        "dev",
        "lo",
        "root",
        "tbf",
        "rate",
        "1gbit",
        "burst",
        "256kb",
        "latency",
        "50ms",
      ]);
    } catch (error) {
      return `the tbf qdisc is not available (${String(error.stderr ?? error.message).trim()})`;
    } finally {
      run("ip", ["netns", "del", name]);
    }
    return undefined;
  }

  /**
   * Builds the link: `rateMbit` each way (tbf, burst 256 KiB so a GSO super-packet of 64 KiB
   * passes, queue up to 200 ms). The far side gets address `farAddress`, this side `nearAddress`.
   */
  static create({ rateMbit }) {
    const id = process.pid % 10_000;
    const link = new WanLink(`tw-wan-${process.pid}`, `twn${id}`, `twf${id}`, id);
    try {
      link.#build(rateMbit);
    } catch (error) {
      link.destroy();
      throw error;
    }
    return link;
  }

  constructor(namespace, nearDevice, farDevice, id) {
    this.namespace = namespace;
    this.nearDevice = nearDevice;
    this.farDevice = farDevice;
    // A /30 of its own per process, so two runs on one machine do not collide.
    const subnet = `10.${200 + (id % 50)}.${Math.floor(id / 50) % 250}`;
    this.nearAddress = `${subnet}.1`;
    this.farAddress = `${subnet}.2`;
  }

  #build(rateMbit) {
    const ns = this.namespace;
    run("ip", ["netns", "add", ns]);
    run("ip", ["link", "add", this.nearDevice, "type", "veth", "peer", "name", this.farDevice]);
    run("ip", ["link", "set", this.farDevice, "netns", ns]);
    run("ip", ["addr", "add", `${this.nearAddress}/30`, "dev", this.nearDevice]);
    run("ip", ["link", "set", this.nearDevice, "up"]);
    this.exec("ip", ["addr", "add", `${this.farAddress}/30`, "dev", this.farDevice]);
    this.exec("ip", ["link", "set", this.farDevice, "up"]);
    this.exec("ip", ["link", "set", "lo", "up"]);
    const tbf = ["root", "tbf", "rate", `${rateMbit}mbit`, "burst", "256kb", "latency", "200ms"];
    run("tc", ["qdisc", "add", "dev", this.nearDevice, ...tbf]);
    this.exec("tc", ["qdisc", "add", "dev", this.farDevice, ...tbf]);
  }

  /** Runs a command inside the far namespace and waits for it. */
  exec(cmd, args) {
    return run("ip", ["netns", "exec", this.namespace, cmd, ...args]);
  }

  /**
   * Starts a long-running process inside the far namespace; resolves once a stdout line
   * or stderr line contains `readyLine`. `ip netns exec` execs the command itself, so `pid` is the process's.
   */
  spawn(cmd, args, { readyLine, readyTimeoutMs = 120_000 } = {}) {
    const child = spawn("ip", ["netns", "exec", this.namespace, cmd, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    const output = [];
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(
          new Error(
            `${cmd} did not print "${readyLine}" within ${readyTimeoutMs} ms: ${output.slice(-10).join("\n")}`,
          ),
        );
      }, readyTimeoutMs);
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(
            `${cmd} exited (${code ?? signal}) before it was ready: ${output.slice(-10).join("\n")}`,
          ),
        );
      });
      let ready = false;
      const onLine = (line) => {
        output.push(line);
        if (output.length > 1000) output.shift();
        if (!ready && (readyLine === undefined || line.includes(readyLine))) {
          ready = true;
          clearTimeout(timer);
          child.removeAllListeners("exit");
          resolve({
            pid: child.pid,
            child,
            output,
            stop: () => stopChild(child),
          });
        }
      };
      // nats-server says it is ready on stderr, our scripts on stdout.
      createInterface({ input: child.stdout }).on("line", onLine);
      createInterface({ input: child.stderr }).on("line", onLine);
    });
  }

  /** Bytes that crossed the link from the far side to this one, and back, so far. */
  bytes() {
    const stat = (name) =>
      Number(readFileSync(`/sys/class/net/${this.nearDevice}/statistics/${name}`, "utf8"));
    return { farToNear: stat("rx_bytes"), nearToFar: stat("tx_bytes") };
  }

  /** Removes the namespace (which removes both ends of the veth pair and their qdiscs). */
  destroy() {
    try {
      run("ip", ["netns", "del", this.namespace]);
    } catch {}
    try {
      run("ip", ["link", "del", this.nearDevice]);
    } catch {}
  }
}

function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
