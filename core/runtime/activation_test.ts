import assert from "node:assert/strict";
import { test } from "node:test";
import { activationEnv, adoptSockets, servesListener } from "./activation.ts";
import { plainAddress } from "./node_conn.ts";

test("activationEnv() reads LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES", () => {
  const cases: [Record<string, string>, ReturnType<typeof activationEnv>][] = [
    [{}, { kind: "none" }],
    [{ LISTEN_FDS: "" }, { kind: "none" }],
    [{ LISTEN_FDS: "1", LISTEN_PID: "42" }, {
      kind: "sockets",
      sockets: [{ fd: 3, name: undefined }],
    }],
    [{ LISTEN_FDS: "2", LISTEN_PID: "42", LISTEN_FDNAMES: "smtp:submission" }, {
      kind: "sockets",
      sockets: [{ fd: 3, name: "smtp" }, { fd: 4, name: "submission" }],
    }],
    // No LISTEN_PID: sd_listen_fds(3) accepts the sockets.
    [{ LISTEN_FDS: "1" }, { kind: "sockets", sockets: [{ fd: 3, name: undefined }] }],
    [{ LISTEN_FDS: "0", LISTEN_PID: "42" }, { kind: "sockets", sockets: [] }],
    [{ LISTEN_FDS: "1", LISTEN_PID: "7" }, { kind: "ignored", reason: "LISTEN_PID is 7, not 42" }],
    [{ LISTEN_FDS: "two", LISTEN_PID: "42" }, { kind: "ignored", reason: 'LISTEN_FDS="two"' }],
  ];
  for (const [env, want] of cases) {
    assert.deepEqual(activationEnv(env, 42), want, JSON.stringify(env));
  }
});

test("servesListener() matches the port and the address, wildcards matching any", () => {
  const cases: [string, number, string, number, boolean][] = [
    ["127.0.0.1", 25, "127.0.0.1", 25, true],
    ["127.0.0.1", 25, "127.0.0.1", 587, false],
    ["127.0.0.1", 25, "127.0.0.2", 25, false],
    ["::", 25, "0.0.0.0", 25, true], // ListenStream=25 binds [::]
    ["0.0.0.0", 25, "192.0.2.1", 25, true],
    ["192.0.2.1", 25, "0.0.0.0", 25, true],
    ["::1", 25, "[::1]", 25, true],
    ["127.0.0.1", 0, "127.0.0.1", 0, false], // port 0 asks for a fresh port
  ];
  for (const [address, port, hostname, wanted, match] of cases) {
    assert.equal(
      servesListener({ address, port }, { hostname, port: wanted }),
      match,
      `${address}:${port} for ${hostname}:${wanted}`,
    );
  }
});

test("plainAddress() unmaps IPv4-mapped IPv6 addresses", () => {
  assert.equal(plainAddress("::ffff:192.0.2.7"), "192.0.2.7");
  assert.equal(plainAddress("::1"), "::1");
  assert.equal(plainAddress("2001:db8::1"), "2001:db8::1");
  assert.equal(plainAddress(undefined), "unknown");
});

test("adoptSockets() reports a descriptor it cannot adopt and goes on", async () => {
  const failures: number[] = [];
  // Far above anything a test process has open.
  const activation = await adoptSockets([{ fd: 900, name: "smtp" }], (socket, error) => {
    assert.ok(error instanceof Error);
    failures.push(socket.fd);
  });
  assert.deepEqual(failures, [900]);
  assert.equal(activation.sockets.length, 0);
  assert.deepEqual(activation.closeUnclaimed(), []);
});
