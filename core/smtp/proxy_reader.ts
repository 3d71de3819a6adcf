/**
 * Reads the PROXY protocol header (HAProxy v1/v2) off a new connection on a
 * listener that sits behind a proxy, and hands back what came after it.
 *
 * @module
 */
import type { Conn, Endpoint } from "../runtime/conn.ts";
import { concatBytes } from "./message.ts";
import { MAX_V2_LENGTH, parseProxyHeader } from "./proxy_protocol.ts";

/** The header's verdict, and the bytes that followed it. */
export type ProxyHeader =
  | { kind: "ok"; source: Endpoint | undefined; rest: Uint8Array }
  | { kind: "invalid"; reason: string };

/** Reads until the header is complete or clearly wrong (bounded by the v2 maximum). */
export async function readProxyHeader(conn: Conn): Promise<ProxyHeader> {
  let buffer: Uint8Array = new Uint8Array(0);
  for (;;) {
    const result = parseProxyHeader(buffer);
    if (result.kind === "ok") {
      return { kind: "ok", source: result.source, rest: buffer.subarray(result.consumed) };
    }
    if (result.kind === "invalid") return result;
    if (buffer.byteLength > MAX_V2_LENGTH) return { kind: "invalid", reason: "header too long" };
    const chunk = await conn.read();
    if (chunk === null) return { kind: "invalid", reason: "connection closed" };
    buffer = concatBytes([buffer, chunk]);
  }
}
