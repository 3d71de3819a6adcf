import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { test } from "node:test";
import { validateConfig } from "./config.ts";
import { HookRunner } from "./hooks/runner.ts";
import { type LogFields, SILENT_LOGGER } from "./log.ts";
import { loadRuntime } from "./runtime/runtime.ts";
import { Server, sessionSettings } from "./server.ts";

function open(port: number): Promise<{ socket: Socket; first: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      const first = new Promise<string>((r) => socket.once("data", (d) => r(String(d))));
      resolve({ socket, first });
    });
    socket.once("error", reject);
  });
}

test("sessionSettings() matches local domains case-insensitively", () => {
  const settings = sessionSettings(
    validateConfig({ hostname: "mx.test", domains: ["Example.org"] }, "t"),
  );
  assert.equal(settings.isLocalDomain("EXAMPLE.ORG"), true);
  assert.equal(settings.isLocalDomain("other.example"), false);
  assert.equal(settings.primaryDomain, "example.org");
});

test("Server refuses connections past the per-IP limit with 421 4.7.0 and frees the slot on close", async () => {
  const runtime = await loadRuntime();
  const config = validateConfig({
    hostname: "mx.test",
    listen: ["127.0.0.1:0"],
    max_connections_per_ip: 2,
  }, "t");
  const events: [string, LogFields][] = [];
  const log = {
    ...SILENT_LOGGER,
    event: (name: string, fields: LogFields) => void events.push([name, fields]),
  };
  const server = new Server(runtime, log, {
    config,
    runner: new HookRunner([], { timeoutMs: 100, log }),
  });
  const [endpoint] = await server.start();
  const port = endpoint?.port as number;
  const a = await open(port);
  const b = await open(port);
  assert.match(await a.first, /^220 /);
  assert.match(await b.first, /^220 /);
  const c = await open(port);
  assert.match(await c.first, /^421 4\.7\.0 mx\.test Too many connections from your address/);
  a.socket.end("QUIT\r\n");
  while (server.connections > 1) await new Promise((r) => setTimeout(r, 10));
  const d = await open(port);
  assert.match(await d.first, /^220 /);
  assert.ok(events.some(([name, f]) => name === "reject" && f.code === 421));
  for (const s of [b, c, d]) s.socket.destroy();
  await server.stop();
});

test("Server.stop() sends 421 4.3.2 to idle sessions and stops listening", async () => {
  const runtime = await loadRuntime();
  const config = validateConfig({ hostname: "mx.test", listen: ["127.0.0.1:0"] }, "t");
  const server = new Server(runtime, SILENT_LOGGER, {
    config,
    runner: new HookRunner([], { timeoutMs: 100, log: SILENT_LOGGER }),
  });
  const [endpoint] = await server.start();
  const client = await open(endpoint?.port as number);
  await client.first;
  const rest = new Promise<string>((r) => client.socket.once("data", (d) => r(String(d))));
  await server.stop();
  assert.match(await rest, /^421 4\.3\.2 /);
  await assert.rejects(open(endpoint?.port as number));
  client.socket.destroy();
});
