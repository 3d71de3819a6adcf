/**
 * Starts a real DNS server (dnsmasq, from Debian's `dnsmasq-base`) on
 * 127.0.0.1 and a free high port, for tests that need MX, A and AAAA records.
 * Works under `deno test` and `bun test` alike.
 *
 * Every `.test` name that the extra arguments do not define answers NXDOMAIN
 * (`--local=/test/`), and nothing is ever forwarded off the machine
 * (`--no-resolv --no-hosts`).
 *
 * @example
 * ```ts
 * const dns = await startDns([
 *   "--mx-host=example.test,mx.example.test,10",
 *   "--host-record=mx.example.test,127.0.0.2",
 * ]);
 * // … new Resolver().setServers([dns.server]) …
 * await dns.stop();
 * ```
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { Resolver } from "node:dns/promises";
import { createServer } from "node:net";
import process from "node:process";

/** A running dnsmasq. */
export interface RunningDns {
  port: number;
  /** `"127.0.0.1:PORT"`, the form `--dns-server` and `Resolver#setServers` take. */
  server: string;
  /** Stops dnsmasq by its PID and waits for it to exit. */
  stop(): Promise<void>;
}

const ATTEMPTS = 5;
const READY_TIMEOUT_MS = 5_000;

/**
 * Starts dnsmasq with the base options plus `records` (extra dnsmasq
 * arguments such as `--mx-host=…` and `--host-record=…`), and resolves once
 * it answers queries.
 */
export async function startDns(records: string[]): Promise<RunningDns> {
  let lastError: unknown;
  // The free port is found by binding port 0 and closing it again, so another
  // process may take it in between; dnsmasq then exits at once and we retry.
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const port = await freePort();
    try {
      return await launch(port, records);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

function dnsmasqPath(): string {
  // /usr/sbin is not on every user's PATH.
  return existsSync("/usr/sbin/dnsmasq") ? "/usr/sbin/dnsmasq" : "dnsmasq";
}

async function launch(port: number, records: string[]): Promise<RunningDns> {
  const args = [
    "--no-daemon",
    `--port=${port}`,
    "--listen-address=127.0.0.1",
    "--bind-interfaces",
    "--no-resolv",
    "--no-hosts",
    // An empty pid file name: no /run/dnsmasq.pid shared between parallel runs.
    "--pid-file=",
    "--local=/test/",
    ...records,
  ];
  const child = spawn(dnsmasqPath(), args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d) => stderr += d);
  const exited = new Promise<string>((resolve) => {
    child.on("error", (error) => resolve(`dnsmasq did not start: ${error.message}`));
    child.on("exit", (code, signal) => resolve(`dnsmasq exited (${code ?? signal}): ${stderr}`));
  });
  const server = `127.0.0.1:${port}`;
  const ready = await Promise.race([waitUntilAnswering(server), exited]);
  if (ready !== true) {
    await stopChild(child);
    throw new Error(ready === false ? `dnsmasq on ${server} never answered: ${stderr}` : ready);
  }
  return { port, server, stop: () => stopChild(child) };
}

/** Polls with a query for a name under `.test` until dnsmasq answers it. */
async function waitUntilAnswering(server: string): Promise<boolean> {
  const resolver = new Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([server]);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      await resolver.resolve4("ready.probe.test");
      return true;
    } catch (error) {
      // NXDOMAIN is an answer; a timeout or refusal means "not yet".
      if ((error as { code?: string }).code === "ENOTFOUND") return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    process.kill(child.pid as number, "SIGTERM");
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}
