import assert from "node:assert/strict";
import { test } from "node:test";
import { AuthLimiter } from "../auth/limiter.ts";
import { accept } from "../hooks/decision.ts";
import type { Connection } from "../hooks/plugin.ts";
import { SILENT_LOGGER } from "../log.ts";
import { type AuthCommandApi, offeredMechanisms, runAuth } from "./auth_command.ts";
import type { Reply } from "./reply.ts";

function api(lines: string[], options: { tls?: boolean; verify?: boolean } = {}) {
  const sent: string[] = [];
  const connection: Connection = {
    id: "c",
    remote: { address: "192.0.2.1", port: 1 },
    local: { address: "127.0.0.1", port: 587 },
    helo: { verb: "EHLO", name: "x" },
    tls: options.tls === false ? undefined : { version: "TLSv1.3", cipher: "x" },
    user: undefined,
  };
  let closed = false;
  const value: AuthCommandApi = {
    connection,
    backend: {
      verify: () => Promise.resolve(options.verify ?? false),
      limiter: new AuthLimiter({ now: () => 0, baseDelayMs: 1 }),
    },
    hostname: "mx.test",
    log: SILENT_LOGGER,
    plugins: [],
    io: {
      send: (r: Reply) => void sent.push(`${r.code} ${r.lines[0]}`),
      readLine: () => Promise.resolve(lines.shift() ?? null),
    },
    send: (r) => void sent.push(`${r.code} ${r.enhanced}`),
    error: (code, enhanced) => void sent.push(`${code} ${enhanced}`),
    closeWith: (r) => {
      sent.push(`${r.code} ${r.enhanced}`);
      closed = true;
    },
    hook: () => Promise.resolve(undefined),
  };
  return { value, sent, connection, closed: () => closed };
}

const PLAIN = (user: string, pass: string) => btoa(`\0${user}\0${pass}`);

test("runAuth() refuses AUTH without TLS (538 5.7.11) and unknown mechanisms (504 5.5.4)", async () => {
  const plain = api([], { tls: false });
  await runAuth(plain.value, `PLAIN ${PLAIN("a@x", "p")}`);
  assert.deepEqual(plain.sent, ["538 5.7.11"]);
  const unknown = api([]);
  await runAuth(unknown.value, "CRAM-MD5");
  assert.deepEqual(unknown.sent, ["504 5.5.4"]);
});

test("runAuth() logs in with the store's verdict and refuses proxy logins", async () => {
  const good = api([], { verify: true });
  await runAuth(good.value, `PLAIN ${PLAIN("Alice@X", "p")}`);
  assert.deepEqual(good.sent, ["235 2.7.0"]);
  assert.equal(good.connection.user, "alice@x");
  const proxy = api([], { verify: true });
  await runAuth(proxy.value, `PLAIN ${btoa("bob@x\0alice@x\0p")}`);
  assert.deepEqual(proxy.sent, ["535 5.7.8"]);
  assert.equal(proxy.connection.user, undefined);
});

test("runAuth() lets the auth hook decide before the store", async () => {
  const hooked = api([], { verify: false });
  hooked.value.hook = () => Promise.resolve(accept());
  await runAuth(hooked.value, `PLAIN ${PLAIN("a@x", "token")}`);
  assert.deepEqual(hooked.sent, ["235 2.7.0"]);
});

test("runAuth() handles LOGIN prompts, cancellation and bad base64", async () => {
  const login = api([btoa("a@x"), btoa("p")], { verify: true });
  await runAuth(login.value, "LOGIN");
  assert.deepEqual(login.sent, ["334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 2.7.0"]);
  const cancelled = api(["*"]);
  await runAuth(cancelled.value, "PLAIN");
  assert.deepEqual(cancelled.sent, ["334 ", "501 5.7.0"]);
  const bad = api(["!!!"]);
  await runAuth(bad.value, "PLAIN");
  assert.equal(bad.sent.at(-1), "501 5.5.2");
});

test("offeredMechanisms() lists the built-ins and what plugins add", () => {
  assert.deepEqual(offeredMechanisms([]), ["PLAIN", "LOGIN"]);
  assert.deepEqual(
    offeredMechanisms([{
      name: "t",
      sasl: { xoauth2: () => Promise.resolve({ kind: "cancelled" }) },
    }]),
    ["PLAIN", "LOGIN", "XOAUTH2"],
  );
});
