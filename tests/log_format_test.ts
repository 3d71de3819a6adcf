/**
 * The log formats on the wire: `serve --log-format json` (and
 * `log_format = "json"` in the file) prints one JSON object per line, and
 * under journald the text lines leave the time to the journal.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { test } from "node:test";
import { postinoCommand, ROOT, startServer, tempDir } from "./helpers/server.ts";
import { transcript } from "./helpers/smtp_client.ts";

const TIMEOUT = { timeout: 60_000 };

/** Parses every non-empty line; fails the test on the first one that is not JSON. */
function jsonLines(output: string): Record<string, unknown>[] {
  return output.split("\n").filter((line) => line !== "").map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new assert.AssertionError({ message: `not a JSON line: ${line}` });
    }
  });
}

async function serveOneSession(options: { args?: string[]; config?: string }): Promise<string> {
  const server = await startServer(options);
  const client = await transcript(
    server.port,
    `
    S: 220
    C: EHLO client.example
    S: 250 HELP
    C: QUIT
    S: 221
  `,
  );
  client.close();
  await server.waitFor(/disconnect/);
  assert.equal(await server.stop(), 0);
  return server.output();
}

function assertJsonLog(output: string): void {
  const records = jsonLines(output);
  for (const record of records) {
    assert.match(String(record["time"]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(typeof record["event"], "string");
  }
  const events = records.map((r) => r["event"]);
  for (const name of ["listening", "connect", "disconnect", "stopping", "stopped"]) {
    assert.ok(events.includes(name), `no ${name} event in ${events.join(", ")}`);
  }
  const listening = records.find((r) => r["event"] === "listening");
  assert.equal(listening?.["address"], "127.0.0.1");
  assert.equal(typeof listening?.["port"], "number");
}

test("serve --log-format json prints one parseable JSON object per line", TIMEOUT, async () => {
  assertJsonLog(await serveOneSession({ args: ["--log-format", "json"] }));
});

test('serve with log_format = "json" in the config file prints JSON lines', TIMEOUT, async () => {
  assertJsonLog(await serveOneSession({ config: 'log_format = "json"\n' }));
});

test("serve --log-format xml is refused with exit code 2", TIMEOUT, async () => {
  const [cmd, ...base] = postinoCommand();
  const child = spawn(cmd as string, [...base, "check-config", "--log-format", "xml"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => stderr += d);
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 2);
  assert.match(stderr, /log_format: must be "text" or "json"/);
});

test(
  "serve under journald (JOURNAL_STREAM names stdout) leaves the time out",
  TIMEOUT,
  async () => {
    // The shell learns its stdout's device:inode and execs the server with it,
    // as systemd does for a service whose output goes to the journal.
    const [cmd, ...base] = postinoCommand();
    const argv = [cmd, ...base, "serve", "--listen", "127.0.0.1:0", "--http", "off"]
      .concat(["--data-dir", tempDir()])
      .map((arg) => `'${String(arg).replaceAll("'", "'\\''")}'`)
      .join(" ");
    const child = spawn(
      "sh",
      ["-c", `JOURNAL_STREAM="$(stat -L -c %d:%i /proc/$$/fd/1)" exec ${argv}`],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (d) => output += d);
    child.stderr.on("data", (d) => output += d);
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    const deadline = Date.now() + 30_000;
    while (!/^listening address=/m.test(output)) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `no listening line: ${output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    process.kill(child.pid as number, "SIGTERM");
    assert.equal(await exited, 0);
    const lines = output.split("\n").filter((line) => line !== "");
    assert.ok(lines.length >= 3, output);
    for (const line of lines) assert.doesNotMatch(line, /^\d{4}-\d\d-\d\dT/, output);
    assert.match(output, /^stopped$/m);
  },
);
