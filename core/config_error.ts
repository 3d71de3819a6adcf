/**
 * The error a bad configuration raises: the file (or "command line"), the
 * key and the reason, so `check-config` and start-up can say exactly what
 * is wrong.
 *
 * @module
 */

/** A config problem: where it is and what is wrong. */
export class ConfigError extends Error {
  constructor(source: string, key: string, reason: string) {
    super(`${source}: ${key}: ${reason}`);
    this.name = "ConfigError";
  }
}

/** Unvalidated settings, keyed as in the TOML file. */
export type RawConfig = Record<string, unknown>;
