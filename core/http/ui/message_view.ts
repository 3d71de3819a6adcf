/**
 * One message shown in full: its header fields (unfolded, encoded-words
 * decoded) in a table, then its raw source. Shared by the queue's and the
 * mailboxes' viewers. Everything shown comes from the message, so all of
 * it goes through the escaping template.
 *
 * @module
 */
import { html } from "hono/html";
import { type HeaderField, headerFields } from "../../store/header_fields.ts";
import { formatBytes } from "./format.ts";
import type { Html } from "./layout.ts";

/** More than this much source is cut in the page; the raw link has it all. */
export const RAW_SHOWN_LIMIT = 512 * 1024;

/** The raw source as text: decoded as UTF-8 (bad bytes show as U+FFFD), maybe cut. */
export function rawText(
  bytes: Uint8Array,
  limit = RAW_SHOWN_LIMIT,
): { text: string; cut: boolean } {
  const cut = bytes.length > limit;
  return { text: new TextDecoder().decode(cut ? bytes.subarray(0, limit) : bytes), cut };
}

function fieldTable(fields: readonly HeaderField[]): Html {
  if (fields.length === 0) return html`<p class="muted">This message has no header fields.</p>`;
  const rows = fields.map((f) =>
    html`
      <tr>
        <th scope="row">${f.name}</th>
        <td>${f.value}</td>
      </tr>
    `
  );
  return html`
    <table class="headers">
      <tbody>${rows}</tbody>
    </table>
  `;
}

/**
 * The header table and the raw source of `bytes`.
 *
 * @param rawHref Where the whole source can be downloaded (the JSON API).
 */
export function messageView(bytes: Uint8Array, rawHref: string): Html {
  const { text, cut } = rawText(bytes);
  const size = formatBytes(bytes.length);
  const note = cut ? html`<p class="muted">Cut at ${formatBytes(RAW_SHOWN_LIMIT)}.</p>` : "";
  return html`
    <section class="card">
      <h2>Header fields</h2>
      ${fieldTable(headerFields(bytes))}
    </section>
    <section class="card">
      <h2>Source <small>${size}</small> <a class="small" href="${rawHref}">raw</a></h2>
      <pre class="source" id="source">${text}</pre>
      ${note}
    </section>
  `;
}
