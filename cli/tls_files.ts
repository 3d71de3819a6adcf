/**
 * Loads the server's certificate and key, and refuses a pair that does not
 * parse or does not match, so a bad file fails at start-up or as a
 * `reload_failed` that keeps the old pair, never mid-handshake.
 *
 * @module
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { TlsServerOptions } from "../core/runtime/conn.ts";

/** Reads and checks a PEM certificate chain and private key. */
export async function loadTlsFiles(
  paths: { cert: string; key: string },
): Promise<TlsServerOptions> {
  const cert = await readPem("tls_cert", paths.cert);
  const key = await readPem("tls_key", paths.key);
  let leaf: X509Certificate;
  try {
    // The first certificate of the chain is the one the key must match.
    leaf = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`${paths.cert}: not a PEM certificate (${(error as Error).message})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new Error(`${paths.key}: not a PEM private key (${(error as Error).message})`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new Error(`${paths.key}: the key does not match the certificate in ${paths.cert}`);
  }
  return { cert, key };
}

/** Reads a PEM file; the error names the setting and the file (a reload_failed line shows it). */
async function readPem(setting: string, path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new Error(`${setting}: cannot read ${path}: ${(error as Error).message}`);
  }
}
