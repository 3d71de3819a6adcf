/**
 * The few libc calls Postino makes through FFI, and the logic around them,
 * kept apart from the FFI bindings (`libc_deno.ts`, `libc_bun.ts`) so it can
 * be tested with a fake libc.
 *
 * Why FFI: systemd's notify socket is an AF_UNIX datagram socket, and
 * neither `node:dgram` (UDP only) nor `node:net` (streams only) speaks that.
 * Deno's `Deno.listenDatagram({ transport: "unixpacket" })` needs
 * `--unstable-net` and Bun has no unix datagram API; `Deno.dlopen` (under
 * `-A`) and `bun:ffi` work as they are, also in the compiled binary. The
 * monotonic clock (systemd's `MONOTONIC_USEC`) comes from `clock_gettime`
 * because neither runtime promises that `process.hrtime` is CLOCK_MONOTONIC.
 *
 * Linux only: the constants below are Linux's.
 *
 * @module
 */

/** Raw libc calls, as an FFI binding exposes them. */
export interface LibcCalls {
  /** socket(2): a descriptor, or -1. */
  socket(domain: number, type: number, protocol: number): number;
  /** sendto(2) of `data` to the address bytes `address`: bytes sent, or -1. */
  sendto(fd: number, data: Uint8Array, flags: number, address: Uint8Array): number;
  /** close(2). */
  close(fd: number): number;
  /** The calling thread's errno, read right after a failed call. */
  errno(): number;
  /** clock_gettime(2) into a 16-byte `struct timespec`: 0, or -1. */
  clockGettime(clock: number, timespec: Uint8Array): number;
}

/** Linux's values for the calls above. */
export const LINUX = {
  AF_UNIX: 1,
  SOCK_DGRAM: 2,
  SOCK_NONBLOCK: 0x800,
  SOCK_CLOEXEC: 0x80000,
  MSG_NOSIGNAL: 0x4000,
  CLOCK_MONOTONIC: 1,
  /** sizeof(sun_path) in `struct sockaddr_un`. */
  SUN_PATH_MAX: 108,
} as const;

/** The shared library names to try, most common first (glibc, then musl). */
export const LIBC_NAMES = ["libc.so.6", "libc.so", "libc.musl-x86_64.so.1"];

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  11: "EAGAIN",
  13: "EACCES",
  20: "ENOTDIR",
  22: "EINVAL",
  91: "EPROTOTYPE",
  97: "EAFNOSUPPORT",
  105: "ENOBUFS",
  111: "ECONNREFUSED",
};

/** A readable name for an errno value, e.g. `ECONNREFUSED`, else `errno 42`. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

/**
 * The bytes of a `struct sockaddr_un` for `path`, trimmed to the length
 * passed as `addrlen`. A path starting with `@` is in the abstract namespace:
 * the `@` becomes a NUL byte and nothing terminates the name (unix(7)).
 *
 * @example
 * ```ts
 * sockaddrUnix("/run/systemd/notify"); // [1, 0, "/run/systemd/notify" bytes…, 0]
 * ```
 */
export function sockaddrUnix(path: string): Uint8Array {
  if (path === "" || (path[0] !== "/" && path[0] !== "@")) {
    throw new TypeError(`not a unix socket path: "${path}"`);
  }
  const abstract = path[0] === "@";
  const name = new TextEncoder().encode(abstract ? path.slice(1) : path);
  if (!abstract && name.includes(0)) throw new TypeError("a socket path cannot contain NUL");
  // The abstract form spends one byte on its leading NUL; a path, on its terminating one.
  if (name.byteLength + 1 > LINUX.SUN_PATH_MAX) {
    throw new RangeError(`unix socket path longer than ${LINUX.SUN_PATH_MAX - 1} bytes`);
  }
  const bytes = new Uint8Array(2 + 1 + name.byteLength);
  // sun_family is in host byte order.
  new Uint16Array(bytes.buffer, 0, 1)[0] = LINUX.AF_UNIX;
  bytes.set(name, abstract ? 3 : 2); // abstract: byte 2 stays 0; path: the last byte stays 0
  return bytes;
}

/**
 * Sends one datagram to the AF_UNIX socket at `path` (`@name` for the
 * abstract namespace) from a fresh socket. The socket does not block: a full
 * receive queue is an error (`EAGAIN`), never a stalled server.
 *
 * @throws Error naming the call and errno when anything fails.
 */
export function sendUnixDatagram(libc: LibcCalls, path: string, data: Uint8Array): void {
  const address = sockaddrUnix(path);
  const fd = libc.socket(
    LINUX.AF_UNIX,
    LINUX.SOCK_DGRAM | LINUX.SOCK_CLOEXEC | LINUX.SOCK_NONBLOCK,
    0,
  );
  if (fd < 0) throw new Error(`socket(AF_UNIX, SOCK_DGRAM): ${errnoName(libc.errno())}`);
  try {
    const sent = libc.sendto(fd, data, LINUX.MSG_NOSIGNAL, address);
    if (sent < 0) throw new Error(`sendto ${path}: ${errnoName(libc.errno())}`);
    if (sent !== data.byteLength) throw new Error(`sendto ${path}: short write`);
  } finally {
    libc.close(fd);
  }
}

/** CLOCK_MONOTONIC in microseconds, as systemd's `MONOTONIC_USEC` wants it. */
export function monotonicMicroseconds(libc: LibcCalls): bigint {
  const timespec = new Uint8Array(16);
  if (libc.clockGettime(LINUX.CLOCK_MONOTONIC, timespec) !== 0) {
    throw new Error(`clock_gettime(CLOCK_MONOTONIC): ${errnoName(libc.errno())}`);
  }
  // struct timespec on 64-bit Linux: time_t tv_sec, long tv_nsec, host order.
  const [seconds, nanoseconds] = new BigInt64Array(timespec.buffer, 0, 2);
  return (seconds as bigint) * 1_000_000n + (nanoseconds as bigint) / 1000n;
}

/**
 * Opens libc once, on first use, with `open(name)` tried on each of
 * {@linkcode LIBC_NAMES}. A failure is remembered and thrown again, so a
 * missing libc costs one attempt, not one per call.
 */
export function lazyLibc(open: (name: string) => LibcCalls): () => LibcCalls {
  let result: { libc: LibcCalls } | { error: Error } | undefined;
  return () => {
    if (result === undefined) {
      const errors: string[] = [];
      for (const name of LIBC_NAMES) {
        try {
          result = { libc: open(name) };
          break;
        } catch (error) {
          errors.push(`${name}: ${(error as Error).message}`);
        }
      }
      result ??= { error: new Error(`cannot load libc (${errors.join("; ")})`) };
    }
    if ("error" in result) throw result.error;
    return result.libc;
  };
}
