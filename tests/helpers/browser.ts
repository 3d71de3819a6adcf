/**
 * Debian's Chromium driven by playwright-core, for the web UI test. Never
 * `npx playwright install` (it downloads a browser): PEERS.md. The same
 * code runs in-process under `deno test` and `bun test`.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM = "/usr/bin/chromium";

/** Whether Chromium is installed (CI installs it; the test skips without). */
export const HAVE_CHROMIUM: boolean = existsSync(CHROMIUM);

/** Starts headless Chromium with a fresh profile and nothing that phones home. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** What went wrong in a page: script errors and Content Security Policy violations. */
export interface PageProblems {
  errors: string[];
  cspViolations: string[];
  /** alert()/prompt() dialogs, which our pages never open (an XSS would). */
  dialogs: string[];
}

/**
 * Records `page`'s script errors, CSP violations and unexpected dialogs.
 * `confirm()` dialogs are accepted (the UI asks before deleting) and not
 * counted as problems.
 */
export function watchPage(page: Page): PageProblems {
  const problems: PageProblems = { errors: [], cspViolations: [], dialogs: [] };
  page.on("pageerror", (error) => problems.errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const text = message.text();
    if (/Content Security Policy/i.test(text)) problems.cspViolations.push(text);
  });
  page.on("dialog", async (dialog) => {
    if (dialog.type() !== "confirm") problems.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    await (dialog.type() === "confirm" ? dialog.accept() : dialog.dismiss());
  });
  return problems;
}
