/**
 * The states of one SMTP session. The state machine, and the one method
 * every transition goes through, live in session.ts; the union lives here so
 * the command modules the session delegates to (message_intake.ts) can read
 * the state without importing the session.
 *
 * @module
 */

/** The session states; every change goes through the session's `#to()`. */
export type State = "ready" | "greeted" | "mail" | "rcpt" | "bdat" | "closed";
