/**
 * Trace fields added on receipt (RFC 5321 §4.4, RFC 5322 §3.6.7).
 *
 * @module
 */

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** Formats a date as RFC 5322 §3.3 `date-time`, in UTC. */
export function rfc5322Date(date: Date): string {
  return `${DAYS[date.getUTCDay()]}, ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ` +
    `${date.getUTCFullYear()} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:` +
    `${pad(date.getUTCSeconds())} +0000`;
}

/** What goes into a Received field. */
export interface ReceivedInfo {
  helo: string | undefined;
  remoteAddress: string;
  hostname: string;
  /** RFC 3848 protocol: ESMTP, ESMTPS, ESMTPA, ESMTPSA, UTF8SMTP, … */
  protocol: string;
  queueId: string;
  tls: { version: string; cipher: string } | undefined;
  /** Named only when there is exactly one recipient (privacy). */
  recipient: string | undefined;
  date: Date;
}

/** The value of a `Received:` field (without the name). */
export function receivedValue(info: ReceivedInfo): string {
  const ip = info.remoteAddress.includes(":") ? `IPv6:${info.remoteAddress}` : info.remoteAddress;
  const from = `from ${info.helo ?? "unknown"} ([${ip}])`;
  const tls = info.tls ? `\r\n\t(using ${info.tls.version} with cipher ${info.tls.cipher})` : "";
  const by = `\r\n\tby ${info.hostname} (Postino) with ${info.protocol} id ${info.queueId}`;
  const rcpt = info.recipient ? `\r\n\tfor <${info.recipient}>` : "";
  return `${from}${tls}${by}${rcpt};\r\n\t${rfc5322Date(info.date)}`;
}

/** RFC 3848 / RFC 6531 `with` protocol names for a session. */
export function protocolName(
  options: { esmtp: boolean; tls: boolean; authenticated: boolean; utf8: boolean },
): string {
  if (!options.esmtp) return "SMTP";
  const suffix = `${options.tls ? "S" : ""}${options.authenticated ? "A" : ""}`;
  return `${options.utf8 ? "UTF8SMTP" : "ESMTP"}${suffix}`;
}
