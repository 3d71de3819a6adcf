import assert from "node:assert/strict";
import { test } from "node:test";
import type { Connection } from "../hooks/plugin.ts";
import { SILENT_LOGGER } from "../log.ts";
import type { Conn, TlsServerOptions } from "../runtime/conn.ts";
import { ClientGone, Input } from "./input.ts";
import { Output } from "./output.ts";
import {
  handshakeLimit,
  offersStartTls,
  runStartTls,
  type StartTlsApi,
  TLS_HANDSHAKE_MS,
} from "./starttls.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CERT: TlsServerOptions = { cert: "cert", key: "key" };

/** A connection that plays `chunks`, records writes, and upgrades with `startTls`. */
function fakeConn(chunks: string[], startTls: () => Promise<Conn>) {
  const queue = chunks.map((c) => encoder.encode(c));
  const state = { writes: [] as string[], closed: false };
  const conn: Conn = {
    remote: { address: "192.0.2.7", port: 4000 },
    local: { address: "127.0.0.1", port: 25 },
    read: () => Promise.resolve(queue.shift() ?? null),
    write: (data) => (state.writes.push(decoder.decode(data)), Promise.resolve()),
    close: () => void (state.closed = true),
    startTls,
    startTlsClient: () => Promise.reject(new Error("not a client")),
  };
  return { conn, state };
}

function connection(tls: Connection["tls"] = undefined): Connection {
  return {
    id: "c",
    remote: { address: "192.0.2.7", port: 4000 },
    local: { address: "127.0.0.1", port: 25 },
    helo: { verb: "EHLO", name: "c.example" },
    tls,
    user: undefined,
  };
}

/** A fake session over `plain` (pipelined bytes already buffered in `initial`). */
function api(plain: Conn, initial: string, options: { tls?: boolean; idleTimeoutMs?: number }) {
  const errors: string[] = [];
  const restarts: Conn[] = [];
  const input = new Input({
    read: () => plain.read(),
    beforeWait: () => Promise.resolve(),
    idleTimeoutMs: 1000,
    initial: encoder.encode(initial),
  });
  const value: StartTlsApi = {
    connection: connection(),
    conn: plain,
    settings: {
      ...(options.tls === false ? {} : { tls: () => CERT }),
      idleTimeoutMs: options.idleTimeoutMs ?? 1000,
    },
    log: SILENT_LOGGER,
    input,
    output: new Output(plain, SILENT_LOGGER, "c"),
    error: (code, _, text) => void errors.push(`${code} ${text}`),
    restart: (secure) => (restarts.push(secure), Promise.resolve()),
  };
  return { value, errors, restarts, input };
}

test("handshakeLimit() is TLS_HANDSHAKE_MS unless the idle timeout is shorter", () => {
  assert.equal(handshakeLimit(300_000), TLS_HANDSHAKE_MS);
  assert.equal(handshakeLimit(2_000), 2_000);
});

test("offersStartTls() needs a certificate and a plaintext connection", () => {
  const settings = { tls: () => CERT, idleTimeoutMs: 1000 };
  assert.equal(offersStartTls(connection(), settings), true);
  assert.equal(offersStartTls(connection(), { tls: () => undefined, idleTimeoutMs: 1000 }), false);
  assert.equal(offersStartTls(connection(), { idleTimeoutMs: 1000 }), false);
  const secure = connection({ version: "TLSv1.3", cipher: "x" });
  assert.equal(offersStartTls(secure, settings), false);
});

test("runStartTls() refuses without a certificate (502) and with an argument (501)", async () => {
  const upgrade = () => Promise.reject(new Error("must not start"));
  const none = api(fakeConn([], upgrade).conn, "", { tls: false });
  await runStartTls(none.value, "");
  const argument = api(fakeConn([], upgrade).conn, "", {});
  await runStartTls(argument.value, "NOW");
  assert.deepEqual([...none.errors, ...argument.errors], [
    "502 STARTTLS not available",
    "501 STARTTLS takes no arguments",
  ]);
});

test("runStartTls() drops pipelined plaintext and moves both directions to TLS", async () => {
  const secure = fakeConn(["EHLO c.example\r\n"], () => Promise.reject(new Error("nested")));
  const tlsInfo = { version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", authorized: false };
  const upgraded: Conn = { ...secure.conn, tlsInfo };
  const plain = fakeConn([], () => Promise.resolve(upgraded));
  // CVE-2011-0411: a command injected behind STARTTLS in the same packet.
  const fake = api(plain.conn, "RSET\r\n", {});
  await runStartTls(fake.value, "");
  assert.deepEqual(plain.state.writes, ["220 2.0.0 Ready to start TLS\r\n"]);
  assert.deepEqual(fake.restarts, [upgraded]);
  assert.deepEqual(fake.value.connection.tls, tlsInfo);
  const line = await fake.input.readLine(512);
  assert.equal(line?.tooLong === false ? decoder.decode(line.line) : line, "EHLO c.example");
  fake.value.output.push({ code: 250, enhanced: "2.0.0", lines: ["Ok"] });
  await fake.value.output.flush();
  assert.deepEqual(secure.state.writes, ["250 2.0.0 Ok\r\n"]);
});

test("runStartTls() closes and throws ClientGone when the handshake fails or stalls", async () => {
  const failing = fakeConn([], () => Promise.reject(new Error("bad record mac")));
  const failed = api(failing.conn, "", {});
  await assert.rejects(runStartTls(failed.value, ""), ClientGone);
  assert.equal(failing.state.closed, true);

  const stalling = fakeConn([], () => new Promise<Conn>(() => {}));
  const stalled = api(stalling.conn, "", { idleTimeoutMs: 20 });
  await assert.rejects(runStartTls(stalled.value, ""), ClientGone);
  assert.equal(stalling.state.closed, true);
  assert.deepEqual(stalled.restarts, []);
});
