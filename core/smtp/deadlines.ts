/**
 * The clocks that bound a session against slow and silent clients
 * (RFC 5321 §4.5.3.2). All are optional so a session built by hand (tests,
 * fuzzers) runs without them; the server always sets them from the config.
 *
 * @module
 */

/** Per-session time limits, in milliseconds. */
export interface Deadlines {
  /** Pause before the greeting; a client that talks during it is an early talker (0: off). */
  greetPauseMs?: number | undefined;
  /** One command line, from its first byte to its end, however slowly it trickles. */
  commandTimeoutMs?: number | undefined;
  /** A whole DATA body, or all BDAT chunks of one message. */
  dataTimeoutMs?: number | undefined;
  /** One write of our replies; a client that does not read is cut off after it. */
  writeTimeoutMs?: number | undefined;
}
