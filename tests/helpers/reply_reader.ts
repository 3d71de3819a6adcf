/**
 * The receiving half of the test SMTP clients: collects what the server
 * sends and hands it out one whole reply at a time (RFC 5321 §4.2: the
 * lines of a multi-line reply end with `NNN-`, the last one with `NNN `).
 * `RawClient` and the TLS-capable `SmtpConn` both read through it.
 *
 * @module
 */

/** Received text, split into replies on demand. */
export class ReplyReader {
  #buffer = "";
  #closed = false;
  #waiters = new Set<() => void>();

  /** Adds text the server sent (latin1, so bytes survive). */
  push(text: string): void {
    this.#buffer += text;
    this.#wake();
  }

  /** Marks the connection closed: pending and later reads fail with what is unread. */
  close(): void {
    this.#closed = true;
    this.#wake();
  }

  /** Drops unread text (after STARTTLS, plaintext leftovers must not be read as replies). */
  clear(): void {
    this.#buffer = "";
  }

  /** Whether the server closed the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Everything received and not yet read as a reply. */
  get unread(): string {
    return this.#buffer;
  }

  #wake(): void {
    for (const w of this.#waiters) w();
  }

  /** Waits for one complete (possibly multi-line) reply; returns its lines. */
  async reply(timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines: string[] = [];
      let offset = 0;
      for (;;) {
        const end = this.#buffer.indexOf("\r\n", offset);
        if (end === -1) break;
        const line = this.#buffer.slice(offset, end);
        lines.push(line);
        offset = end + 2;
        if (/^\d{3}( |$)/.test(line)) {
          this.#buffer = this.#buffer.slice(offset);
          return lines;
        }
      }
      if (this.#closed) {
        throw new Error(`connection closed; unread: ${JSON.stringify(this.#buffer)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply in time; unread: ${JSON.stringify(this.#buffer)}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.#waiters.add(done);
      });
    }
  }

  /** Waits until the server closes the connection. */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed) {
      if (Date.now() > deadline) throw new Error("server did not close the connection");
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
