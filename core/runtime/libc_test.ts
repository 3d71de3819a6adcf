import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  errnoName,
  lazyLibc,
  type LibcCalls,
  LINUX,
  monotonicMicroseconds,
  sendUnixDatagram,
  sockaddrUnix,
} from "./libc.ts";
import { loadRuntime } from "./runtime.ts";

const bytes = (text: string) => [...new TextEncoder().encode(text)];
// sun_family is host order; every machine we run on is little-endian.
const FAMILY = [1, 0];

test("sockaddrUnix() lays out a path with its terminating NUL", () => {
  assert.deepEqual([...sockaddrUnix("/run/n")], [...FAMILY, ...bytes("/run/n"), 0]);
});

test("sockaddrUnix() puts an @name in the abstract namespace, unterminated", () => {
  assert.deepEqual([...sockaddrUnix("@sd")], [...FAMILY, 0, ...bytes("sd")]);
});

test("sockaddrUnix() refuses what cannot be a unix socket address", () => {
  assert.throws(() => sockaddrUnix(""), TypeError);
  assert.throws(() => sockaddrUnix("relative/path"), TypeError);
  assert.throws(() => sockaddrUnix("vsock:2:1234"), TypeError);
  assert.throws(() => sockaddrUnix("/a\0b"), TypeError);
  assert.throws(() => sockaddrUnix("/" + "x".repeat(LINUX.SUN_PATH_MAX - 1)), RangeError);
  assert.equal(sockaddrUnix("/" + "x".repeat(LINUX.SUN_PATH_MAX - 2)).byteLength, 110);
});

test("errnoName() names the usual errors and numbers the rest", () => {
  assert.equal(errnoName(111), "ECONNREFUSED");
  assert.equal(errnoName(2), "ENOENT");
  assert.equal(errnoName(4242), "errno 4242");
});

/** A fake libc that records calls; `fail` makes one call return -1 with that errno. */
function fakeLibc(fail?: { call: "socket" | "sendto" | "clock"; errno: number }) {
  const calls: string[] = [];
  const libc: LibcCalls = {
    socket(domain, type, protocol) {
      calls.push(`socket ${domain} ${type.toString(16)} ${protocol}`);
      return fail?.call === "socket" ? -1 : 7;
    },
    sendto(fd, data, flags, address) {
      calls.push(`sendto ${fd} ${data.byteLength} ${flags.toString(16)} ${address.byteLength}`);
      return fail?.call === "sendto" ? -1 : data.byteLength;
    },
    close(fd) {
      calls.push(`close ${fd}`);
      return 0;
    },
    errno: () => fail?.errno ?? 0,
    clockGettime(clock, timespec) {
      calls.push(`clock ${clock}`);
      if (fail?.call === "clock") return -1;
      new BigInt64Array(timespec.buffer).set([12n, 345_678_999n]);
      return 0;
    },
  };
  return { libc, calls };
}

test("sendUnixDatagram() opens a non-blocking datagram socket, sends once and closes", () => {
  const { libc, calls } = fakeLibc();
  sendUnixDatagram(libc, "/run/n", new Uint8Array(8));
  assert.deepEqual(calls, ["socket 1 80802 0", "sendto 7 8 4000 9", "close 7"]);
});

test("sendUnixDatagram() names the call and errno, and still closes the socket", () => {
  const refused = fakeLibc({ call: "sendto", errno: 111 });
  assert.throws(
    () => sendUnixDatagram(refused.libc, "/run/n", new Uint8Array(1)),
    /sendto \/run\/n: ECONNREFUSED/,
  );
  assert.equal(refused.calls.at(-1), "close 7");
  const noSocket = fakeLibc({ call: "socket", errno: 97 });
  assert.throws(() => sendUnixDatagram(noSocket.libc, "/run/n", new Uint8Array(1)), /EAFNOSUPPORT/);
  assert.deepEqual(noSocket.calls, ["socket 1 80802 0"]);
});

test("monotonicMicroseconds() reads CLOCK_MONOTONIC's timespec as microseconds", () => {
  assert.equal(monotonicMicroseconds(fakeLibc().libc), 12_345_678n);
  assert.throws(() => monotonicMicroseconds(fakeLibc({ call: "clock", errno: 22 }).libc), /EINVAL/);
});

test("lazyLibc() opens on first use, tries each name, and remembers a failure", () => {
  const tried: string[] = [];
  const get = lazyLibc((name) => {
    tried.push(name);
    throw new Error("not here");
  });
  assert.deepEqual(tried, []);
  assert.throws(get, /cannot load libc \(libc\.so\.6: not here;/);
  const count = tried.length;
  assert.throws(get, /cannot load libc/);
  assert.equal(tried.length, count);
  const { libc } = fakeLibc();
  let opened = 0;
  const good = lazyLibc(() => (opened++, libc));
  assert.equal(good(), libc);
  assert.equal(good(), libc);
  assert.equal(opened, 1);
});

test("runtime.sendUnixDatagram() reaches a real unix datagram socket (python3 receiver)", async (t) => {
  const runtime = await loadRuntime();
  const dir = mkdtempSync(join(tmpdir(), "postino-libc-"));
  const path = join(dir, "notify.sock");
  const receiver = spawn("python3", [
    "-c",
    "import socket,sys\n" +
    "s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM); s.bind(sys.argv[1])\n" +
    "print('bound', flush=True); print(s.recv(4096).decode().replace('\\n','|'), flush=True)",
    path,
  ], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  receiver.stdout.on("data", (d) => out += d);
  const spawned = await new Promise<boolean>((resolve) => {
    receiver.once("error", () => resolve(false));
    receiver.stdout.once("data", () => resolve(true));
  });
  if (!spawned) {
    t.skip("python3 is not installed");
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  try {
    const before = runtime.monotonicMicroseconds?.() ?? 0n;
    runtime.sendUnixDatagram?.(path, new TextEncoder().encode("READY=1\nSTATUS=hi\n"));
    await new Promise((resolve) => receiver.once("exit", resolve));
    assert.equal(out, "bound\nREADY=1|STATUS=hi|\n");
    assert.ok((runtime.monotonicMicroseconds?.() ?? 0n) >= before);
    assert.ok(before > 0n);
    assert.throws(
      () => runtime.sendUnixDatagram?.(join(dir, "absent.sock"), new Uint8Array(1)),
      /ENOENT/,
    );
  } finally {
    if (receiver.exitCode === null) receiver.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
