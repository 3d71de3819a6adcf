import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { connect as tlsConnect, TLSSocket } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Conn } from "./conn.ts";
import { loadRuntime, runtimeName } from "./runtime.ts";

const text = (bytes: Uint8Array | null) => bytes === null ? null : new TextDecoder().decode(bytes);

async function readUntil(conn: Conn, want: string): Promise<string> {
  let got = "";
  while (!got.includes(want)) {
    const chunk = await conn.read();
    if (chunk === null) break;
    got += text(chunk);
  }
  return got;
}

test("loadRuntime() picks the adapter of the runtime we are on", async () => {
  const runtime = await loadRuntime();
  assert.equal(runtime.name, runtimeName());
  assert.equal(runtime.name, "Bun" in globalThis ? "bun" : "deno");
});

test("Runtime.listen() and connect() carry bytes both ways and report EOF", async () => {
  const runtime = await loadRuntime();
  const accepted: Promise<Conn> = new Promise((resolve) => {
    runtime.listen({ hostname: "127.0.0.1", port: 0 }, resolve).then((l) => listeners.push(l));
  });
  const listeners: { local: { port: number }; close(): void }[] = [];
  while (listeners.length === 0) await new Promise((r) => setTimeout(r, 5));
  const listener = listeners[0]!;
  assert.ok(listener.local.port > 0);
  const client = await runtime.connect({ hostname: "127.0.0.1", port: listener.local.port });
  const server = await accepted;
  assert.equal(server.remote.address, "127.0.0.1");
  await client.write(new TextEncoder().encode("hello\r\n"));
  assert.equal(await readUntil(server, "\r\n"), "hello\r\n");
  const big = new Uint8Array(1024 * 1024).fill(65);
  const sent = client.write(big);
  let received = 0;
  while (received < big.byteLength) received += (await server.read())?.byteLength ?? 0;
  await sent;
  assert.equal(received, big.byteLength);
  client.close();
  assert.equal(await server.read(), null);
  server.close();
  listener.close();
});

test("Runtime.openDatabase() uses WAL with synchronous FULL and rolls back failed transactions", async () => {
  const runtime = await loadRuntime();
  const dir = mkdtempSync(join(tmpdir(), "sqlite-"));
  const db = runtime.openDatabase(join(dir, "t.db"));
  assert.equal(db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
  assert.equal(Number(db.prepare("PRAGMA synchronous").get()?.synchronous), 2);
  db.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)");
  db.transaction(() => db.prepare("INSERT INTO t VALUES (?, ?)").run("a", 1));
  assert.throws(() =>
    db.transaction(() => {
      db.prepare("INSERT INTO t VALUES (?, ?)").run("b", 2);
      throw new Error("abort");
    })
  );
  assert.deepEqual(
    db.prepare("SELECT k, v FROM t ORDER BY k").all().map((r) => [r.k, Number(r.v)]),
    [["a", 1]],
  );
  assert.equal(db.prepare("SELECT v FROM t WHERE k = ?").get("zz"), undefined);
  db.close();
});

test("Conn.startTls() upgrades an accepted connection as the TLS server", async () => {
  const runtime = await loadRuntime();
  const dir = mkdtempSync(join(tmpdir(), "tls-"));
  execFileSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=localhost",
    "-keyout",
    join(dir, "key.pem"),
    "-out",
    join(dir, "cert.pem"),
  ], { stdio: "ignore" });
  const cert = readFileSync(join(dir, "cert.pem"), "utf8");
  const key = readFileSync(join(dir, "key.pem"), "utf8");
  let listener: { local: { port: number }; close(): void } | undefined;
  const served = new Promise<string>((resolve, reject) => {
    runtime.listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      try {
        await readUntil(conn, "STARTTLS\r\n");
        await conn.write(new TextEncoder().encode("220 go ahead\r\n"));
        const secure = await conn.startTls({ cert, key });
        const line = await readUntil(secure, "\r\n");
        await secure.write(new TextEncoder().encode(`echo ${line}`));
        resolve(line);
      } catch (error) {
        reject(error);
      }
    }).then((l) => listener = l);
  });
  while (!listener) await new Promise((r) => setTimeout(r, 5));
  const { connect } = await import("node:net");
  const plain = connect({ host: "127.0.0.1", port: listener.local.port });
  await new Promise((r) => plain.once("connect", r));
  plain.write("STARTTLS\r\n");
  await new Promise((r) => plain.once("data", r));
  const secure = tlsConnect({ socket: plain, rejectUnauthorized: false, servername: "localhost" });
  await new Promise((r) => secure.once("secureConnect", r));
  assert.match(secure.getProtocol() ?? "", /^TLSv1\.[23]$/);
  secure.write("secret line\r\n");
  const echoed = await new Promise<string>((r) => secure.once("data", (d) => r(String(d))));
  assert.equal(await served, "secret line\r\n");
  assert.equal(echoed, "echo secret line\r\n");
  secure.destroy();
  listener.close();
});

/** A CA and a leaf for localhost/127.0.0.1 signed by it, made with openssl. */
function makeCa(dir: string, name: string): { ca: string; cert: string; key: string } {
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  run([
    "req",
    "-x509",
    ...ec,
    "-days",
    "1",
    "-subj",
    `/CN=${name} CA`,
    "-keyout",
    `${name}-ca.key`,
    "-out",
    `${name}-ca.pem`,
  ]);
  run(["req", ...ec, "-subj", "/CN=localhost", "-keyout", `${name}.key`, "-out", `${name}.csr`]);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
  run([
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${name}-ca.pem`,
    "-CAkey",
    `${name}-ca.key`,
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    ext,
    "-out",
    `${name}.pem`,
  ]);
  const read = (file: string) => readFileSync(join(dir, file), "utf8");
  return { ca: read(`${name}-ca.pem`), cert: read(`${name}.pem`), key: read(`${name}.key`) };
}

/** A node:net + node:tls STARTTLS echo server: "STARTTLS" then echoes one line. */
async function startTlsEchoServer(
  cert: string,
  key: string,
): Promise<{ port: number; close(): void }> {
  const sockets: Socket[] = [];
  const server = createServer((plain) => {
    sockets.push(plain);
    plain.once("data", () => {
      plain.write("220 go ahead\r\n");
      const secure = new TLSSocket(plain, { isServer: true, cert, key });
      secure.on("error", () => plain.destroy());
      secure.once("data", (line) => secure.write(`echo ${line}`));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return {
    port: address.port,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

test("Conn.startTlsClient() upgrades a dialled connection, verifying only when asked", async () => {
  const runtime = await loadRuntime();
  const dir = mkdtempSync(join(tmpdir(), "tls-client-"));
  const good = makeCa(dir, "good");
  const other = makeCa(dir, "other");
  const server = await startTlsEchoServer(good.cert, good.key);
  const upgrade = async (options: Parameters<Conn["startTlsClient"]>[0]) => {
    const conn = await runtime.connect({ hostname: "127.0.0.1", port: server.port });
    assert.equal(conn.tlsInfo, undefined);
    await conn.write(new TextEncoder().encode("STARTTLS\r\n"));
    assert.equal(await readUntil(conn, "\r\n"), "220 go ahead\r\n");
    return await conn.startTlsClient(options);
  };
  try {
    // Opportunistic: no check, any certificate will do.
    const loose = await upgrade({ servername: "mx.example.test", verify: false });
    assert.match(loose.tlsInfo?.version ?? "", /^TLSv1\.[23]$/);
    assert.ok((loose.tlsInfo?.cipher ?? "").length > 0);
    assert.equal(loose.tlsInfo?.authorized, false);
    await loose.write(new TextEncoder().encode("secret line\r\n"));
    assert.equal(await readUntil(loose, "\r\n"), "echo secret line\r\n");
    await assert.rejects(loose.startTlsClient({ servername: "x", verify: false }));
    loose.close();
    // Verified against the right CA, by name and by IP.
    for (const servername of ["localhost", "127.0.0.1"]) {
      const strict = await upgrade({ servername, verify: true, ca: good.ca });
      assert.equal(strict.tlsInfo?.authorized, true);
      strict.close();
    }
    // Verified against the wrong CA, or the right CA under another name: refused.
    await assert.rejects(upgrade({ servername: "localhost", verify: true, ca: other.ca }));
    await assert.rejects(upgrade({ servername: "mx.example.test", verify: true, ca: good.ca }));
  } finally {
    server.close();
  }
});
