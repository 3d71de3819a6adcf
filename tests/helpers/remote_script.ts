/**
 * A small scripted remote MTA on node:net for wire tests: it answers each
 * RCPT by a rule the test sets (and may change while it runs), offers
 * PIPELINING and 8BITMIME, and records every transaction byte for byte.
 *
 * @example
 * ```ts
 * const remote = await startScriptedRemote((rcpt) =>
 *   rcpt.startsWith("bad@") ? "550 5.1.1 no such user" : "250 2.1.5 Ok"
 * );
 * // … relay_host = "127.0.0.1:${remote.port}" …
 * await remote.close();
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";

/** One transaction that reached DATA's final dot. */
export interface RemoteTransaction {
  /** The MAIL FROM command line as received. */
  mail: string;
  /** RCPT addresses that got a 2xx reply, in order. */
  recipients: string[];
  /** The message, dot-stuffing undone, without the final `.` line; CRLF as received. */
  data: Uint8Array;
}

/** A running scripted remote. */
export interface ScriptedRemote {
  host: string;
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Every RCPT address seen, with the reply given: `["bad@x.test", "550 5.1.1 …"]`. */
  readonly rcpts: [string, string][];
  /** Finished transactions, in order. */
  readonly transactions: RemoteTransaction[];
  /** The rule RCPT replies come from; replace it to change the remote's mind. */
  rcptReply: (address: string) => string;
  close(): Promise<void>;
}

const EHLO = ["remote.test greets you", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"];

/** Starts the remote on `host` (any 127.x) and a free port, or `port`. */
export async function startScriptedRemote(
  rcptReply: (address: string) => string,
  options: { host?: string; port?: number } = {},
): Promise<ScriptedRemote> {
  const host = options.host ?? "127.0.0.1";
  const sockets = new Set<Socket>();
  const remote = {
    host,
    port: 0,
    connections: 0,
    rcpts: [] as [string, string][],
    transactions: [] as RemoteTransaction[],
    rcptReply,
    close: (): Promise<void> => Promise.resolve(),
  };
  const server: Server = createServer((socket) => {
    remote.connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    serve(socket, remote);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  remote.port = address.port;
  remote.close = () => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return remote;
}

function serve(socket: Socket, remote: ScriptedRemote): void {
  let buffer = Buffer.alloc(0);
  let inData = false;
  let mail: string | undefined;
  let recipients: string[] = [];
  const reply = (line: string) => {
    if (!socket.destroyed) socket.write(`${line}\r\n`);
  };
  const reset = () => {
    mail = undefined;
    recipients = [];
  };

  const command = (line: string): boolean => {
    const verb = (line.split(/[ :]/)[0] ?? "").toUpperCase();
    switch (verb) {
      case "EHLO":
        EHLO.forEach((l, i) => reply(`250${i === EHLO.length - 1 ? " " : "-"}${l}`));
        break;
      case "HELO":
        reply("250 remote.test");
        break;
      case "MAIL":
        reset();
        mail = line;
        reply("250 2.1.0 Ok");
        break;
      case "RCPT": {
        if (mail === undefined) {
          reply("503 5.5.1 MAIL first");
          break;
        }
        const address = /<([^>]*)>/.exec(line)?.[1] ?? "";
        const answer = remote.rcptReply(address);
        remote.rcpts.push([address, answer]);
        if (answer.startsWith("2")) recipients.push(address);
        reply(answer);
        break;
      }
      case "DATA":
        if (recipients.length === 0) {
          reply("554 5.5.1 No valid recipients");
          break;
        }
        inData = true;
        reply("354 End data with <CR><LF>.<CR><LF>");
        break;
      case "RSET":
        reset();
        reply("250 2.0.0 Ok");
        break;
      case "NOOP":
        reply("250 2.0.0 Ok");
        break;
      case "QUIT":
        reply("221 2.0.0 Bye");
        socket.end();
        return false;
      default:
        reply("502 5.5.2 Command not implemented");
    }
    return true;
  };

  socket.on("data", (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (inData) {
        const end = buffer.subarray(0, 3).toString("latin1") === ".\r\n"
          ? 0
          : buffer.indexOf("\r\n.\r\n");
        if (end === -1) return;
        const raw = end === 0 ? "" : buffer.subarray(0, end + 2).toString("latin1");
        buffer = buffer.subarray(end === 0 ? 3 : end + 5);
        inData = false;
        const unstuffed = raw.replace(/^\./gm, "");
        remote.transactions.push({
          mail: mail ?? "",
          recipients,
          data: new Uint8Array(Buffer.from(unstuffed, "latin1")),
        });
        reset();
        reply("250 2.0.0 Ok: queued");
        continue;
      }
      const end = buffer.indexOf("\r\n");
      if (end === -1) return;
      const line = buffer.subarray(0, end).toString("latin1");
      buffer = buffer.subarray(end + 2);
      if (!command(line)) return;
    }
  });
  reply("220 remote.test ESMTP scripted");
}
