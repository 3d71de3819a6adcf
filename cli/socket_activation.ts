/**
 * `postino serve` under systemd socket activation: adopts the sockets
 * systemd passed (see core/runtime/activation.ts) and logs what happened to
 * each, so an admin can see which port came from systemd.
 *
 * @module
 */
import process from "node:process";
import type { Logger } from "../core/log.ts";
import { type Activation, activationEnv, adoptSockets } from "../core/runtime/activation.ts";

/**
 * Adopts the inherited listening sockets, if systemd passed any to this
 * process. Logs `socket_inherited` per socket, and a warning event when the
 * variables are set but cannot be used (`socket_activation_ignored`,
 * `socket_activation_failed`).
 */
export async function socketActivation(
  log: Logger,
  env: Record<string, string | undefined> = process.env,
  pid: number = process.pid,
): Promise<Activation | undefined> {
  const found = activationEnv(env, pid);
  if (found.kind === "none") return undefined;
  if (found.kind === "ignored") {
    log.event("socket_activation_ignored", { reason: found.reason });
    return undefined;
  }
  // sd_listen_fds(3) with unset_environment: nothing we start may think the sockets are its own.
  delete env["LISTEN_FDS"];
  delete env["LISTEN_PID"];
  delete env["LISTEN_FDNAMES"];
  const activation = await adoptSockets(found.sockets, (socket, error) => {
    log.event("socket_activation_failed", {
      fd: socket.fd,
      name: socket.name,
      error: error.message,
    });
  });
  for (const socket of activation.sockets) {
    log.event("socket_inherited", {
      fd: socket.fd,
      name: socket.name,
      address: socket.local.address,
      port: socket.local.port,
    });
  }
  return activation;
}

/** After the listeners started: closes and logs inherited sockets no listener wanted. */
export function closeUnclaimedSockets(activation: Activation | undefined, log: Logger): void {
  for (const socket of activation?.closeUnclaimed() ?? []) {
    log.event("socket_activation_unused", {
      fd: socket.fd,
      name: socket.name,
      address: socket.local.address,
      port: socket.local.port,
      message: "no configured listener has this address; closed",
    });
  }
}
