/**
 * The libc calls of `libc.ts` through `bun:ffi`, which also works inside a
 * `bun build --compile` binary.
 *
 * @module
 */
import type { LibcCalls } from "./libc.ts";

// The slice of bun:ffi we use, typed here so Deno's type check passes.
type FfiType = "i32" | "u32" | "i64" | "u64" | "ptr";
interface BunFfi {
  dlopen(
    name: string,
    symbols: Record<string, { args: FfiType[]; returns: FfiType }>,
  ): { symbols: Record<string, (...args: unknown[]) => unknown> };
  read: { i32(pointer: unknown, offset?: number): number };
}

/** Loads `bun:ffi`; call once, then {@linkcode openLibcBun} per library name. */
export async function loadBunFfi(): Promise<BunFfi> {
  // A computed specifier keeps Deno's type check away from `bun:` modules.
  const specifier = "bun:ffi";
  return await import(specifier) as BunFfi;
}

/** Opens the shared library `name` and binds the calls. Throws if it cannot. */
export function openLibcBun(ffi: BunFfi, name: string): LibcCalls {
  const { symbols } = ffi.dlopen(name, {
    socket: { args: ["i32", "i32", "i32"], returns: "i32" },
    sendto: { args: ["i32", "ptr", "u64", "i32", "ptr", "u32"], returns: "i64" },
    close: { args: ["i32"], returns: "i32" },
    __errno_location: { args: [], returns: "ptr" },
    clock_gettime: { args: ["i32", "ptr"], returns: "i32" },
  });
  const call = (fn: string, ...args: unknown[]) => Number(symbols[fn]?.(...args));
  return {
    socket: (domain, type, protocol) => call("socket", domain, type, protocol),
    // Typed arrays pass as pointers to their bytes.
    sendto: (fd, data, flags, address) =>
      call("sendto", fd, data, data.byteLength, flags, address, address.byteLength),
    close: (fd) => call("close", fd),
    errno: () => {
      const pointer = symbols["__errno_location"]?.();
      return pointer ? ffi.read.i32(pointer, 0) : 0;
    },
    clockGettime: (clock, timespec) => call("clock_gettime", clock, timespec),
  };
}
