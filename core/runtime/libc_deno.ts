/**
 * The libc calls of `libc.ts` through `Deno.dlopen`. FFI is stable in Deno 2
 * and allowed by `-A` (or `--allow-ffi`); no `--unstable-*` flag is needed.
 *
 * @module
 */
import type { LibcCalls } from "./libc.ts";

/** Opens the shared library `name` and binds the calls. Throws if it cannot. */
export function openLibcDeno(name: string): LibcCalls {
  const { symbols } = Deno.dlopen(
    name,
    {
      socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
      sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
      close: { parameters: ["i32"], result: "i32" },
      __errno_location: { parameters: [], result: "pointer" },
      clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
    } as const,
  );
  return {
    socket: (domain, type, protocol) => symbols.socket(domain, type, protocol),
    sendto: (fd, data, flags, address) =>
      Number(symbols.sendto(fd, data, BigInt(data.byteLength), flags, address, address.byteLength)),
    close: (fd) => symbols.close(fd),
    errno: () => {
      const pointer = symbols.__errno_location();
      return pointer === null ? 0 : new Deno.UnsafePointerView(pointer).getInt32();
    },
    clockGettime: (clock, timespec) => symbols.clock_gettime(clock, timespec),
  };
}
