/**
 * Starts the real Postino server as a child process on a free port, the way
 * a user runs it, and runs CLI commands. Works under `deno test` and
 * `bun test` alike: the child runs on the same runtime as the test.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The command that runs `main.ts` on the current runtime. */
export function postinoCommand(): string[] {
  const isBun = "Bun" in globalThis;
  return isBun
    ? [process.execPath, join(ROOT, "main.ts")]
    : [process.execPath, "run", "-A", join(ROOT, "main.ts")];
}

/** A fresh temporary directory. */
export function tempDir(prefix = "postino-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The result of a finished CLI command. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `postino ARGS…` to completion, feeding `stdin` if given. */
export function postino(args: string[], options: { stdin?: string } = {}): Promise<CommandResult> {
  const [cmd, ...base] = postinoCommand();
  const child = spawn(cmd as string, [...base, ...args], { cwd: ROOT, stdio: "pipe" });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => stdout += d);
  child.stderr.on("data", (d) => stderr += d);
  child.stdin.end(options.stdin ?? "");
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** A running server. */
export interface RunningServer {
  port: number;
  dataDir: string;
  child: ChildProcess;
  /** Everything the server printed so far. */
  output(): string;
  /** Waits until the output matches `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Sends `signal` and waits for exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
  /**
   * Waits until every message the server queued so far has had a delivery
   * attempt (delivery runs from the spool after the 250 reply).
   */
  settled(timeoutMs?: number): Promise<void>;
}

/** Whether every `queued id=X` line in `output` has a finished delivery attempt. */
export function allAttempted(output: string): boolean {
  const queued = [...output.matchAll(/ queued .*?\bid=(\S+)/g)].map((m) => m[1]);
  return queued.every((id) => new RegExp(` attempted id=${id}\\b`).test(output));
}

/** Options for {@linkcode startServer}. */
export interface StartOptions {
  /** Extra `serve` arguments. */
  args?: string[];
  /** TOML text written to a config file passed with `--config`. */
  config?: string;
  /** Users to create first, as `address` or `address:password`. */
  users?: string[];
  dataDir?: string;
  /** Extra environment variables for the server process. */
  env?: Record<string, string>;
}

/** The first "listening" line in text or JSON logs (`--log-format json`). */
const LISTENING = /listening address=\S+ port=(\d+)|"event":"listening".*?"port":(\d+)/;

/** Starts `postino serve` on 127.0.0.1 with a free port. */
export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const dataDir = options.dataDir ?? tempDir();
  for (const user of options.users ?? []) {
    const [address, password] = user.split(":");
    const args = ["user", "add", address as string, "--data-dir", dataDir];
    const result = await postino(password ? [...args, "--password-stdin"] : args, {
      stdin: password ? `${password}\n` : "",
    });
    if (result.code !== 0) throw new Error(`user add failed: ${result.stderr}`);
  }
  // No admin HTTP listener unless a test asks for one (`--http 127.0.0.1:0`): the
  // default port would collide between servers; a later `--http` wins.
  const args = [
    "serve",
    "--listen",
    "127.0.0.1:0",
    "--http",
    "off",
    "--data-dir",
    dataDir,
    ...(options.args ?? []),
  ];
  if (options.config !== undefined) {
    const file = join(dataDir, "postino.toml");
    writeFileSync(file, options.config);
    args.push("--config", file);
  }
  const [cmd, ...base] = postinoCommand();
  const child = spawn(cmd as string, [...base, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
  });
  let output = "";
  const waiters = new Set<() => void>();
  const onData = (d: Uint8Array | string) => {
    output += d;
    for (const w of waiters) w();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? -1)));

  const waitFor = (pattern: RegExp, timeoutMs = 15_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pattern.test(output)) {
          cleanup();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${pattern}; output:\n${output}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      exited.then(() => {
        if (!pattern.test(output)) {
          cleanup();
          reject(new Error(`server exited while waiting for ${pattern}; output:\n${output}`));
        }
      });
      check();
    });

  await waitFor(LISTENING);
  const found = LISTENING.exec(output);
  const port = Number(found?.[1] ?? found?.[2]);
  return {
    port,
    dataDir,
    child,
    output: () => output,
    waitFor,
    settled: async (timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!allAttempted(output)) {
        if (Date.now() > deadline) throw new Error(`delivery did not settle; output:\n${output}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    stop: (signal = "SIGTERM") => {
      // process.kill, not child.kill: on Deno 2.9 the latter reports the
      // exit as signal-killed (code null) even when the server exits 0.
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, signal);
      return exited;
    },
  };
}
