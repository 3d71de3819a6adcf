/**
 * ESMTP parameters of MAIL and RCPT: SIZE (RFC 1870), BODY (RFC 6152,
 * RFC 3030), SMTPUTF8 (RFC 6531) and the DSN set (RFC 3461).
 *
 * @module
 */
import { SmtpError } from "./reply.ts";

/** Parameters accepted on MAIL FROM. */
export interface MailParams {
  size?: number;
  body?: "7BIT" | "8BITMIME";
  smtputf8: boolean;
  /** RFC 3461 §4.3: how much of the message a DSN returns. */
  ret?: "FULL" | "HDRS";
  /** RFC 3461 §4.4: the sender's envelope identifier (xtext decoded). */
  envid?: string;
}

/** Parameters accepted on RCPT TO. */
export interface RcptParams {
  /** RFC 3461 §4.1: NEVER, or any of SUCCESS, FAILURE, DELAY. */
  notify?: ("NEVER" | "SUCCESS" | "FAILURE" | "DELAY")[];
  /** RFC 3461 §4.2: the original recipient, `type;address` (xtext decoded). */
  orcpt?: { type: string; address: string };
}

const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const VALUE = /^[\x21-\x3c\x3e-\x7e\u0080-\u{10FFFF}]+$/u;

/**
 * Upper-cases ASCII letters only: keywords are ASCII (RFC 5321 §4.1.2), and
 * Unicode case rules would turn `ſize` into `SIZE`.
 */
export function asciiUpper(text: string): string {
  return text.replace(/[a-z]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 32));
}

/** Splits `KEY=value KEY2` into upper-cased keys and raw values. */
export function splitParams(text: string): Map<string, string | undefined> {
  const params = new Map<string, string | undefined>();
  for (const word of text.split(" ")) {
    if (word === "") continue;
    const eq = word.indexOf("=");
    const key = asciiUpper(eq === -1 ? word : word.slice(0, eq));
    const value = eq === -1 ? undefined : word.slice(eq + 1);
    if (!KEYWORD.test(key) || (value !== undefined && !VALUE.test(value))) {
      throw new SmtpError(501, "5.5.4", "Syntax error in parameters");
    }
    if (params.has(key)) throw new SmtpError(501, "5.5.4", `Duplicate ${key} parameter`);
    params.set(key, value);
  }
  return params;
}

/** Decodes RFC 3461 §4 xtext (`+XX` hex escapes). */
export function decodeXtext(text: string): string {
  if (!/^(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*$/.test(text)) {
    throw new SmtpError(501, "5.5.4", "Invalid xtext in parameter");
  }
  return text.replace(
    /\+([0-9A-F]{2})/g,
    (_, hex: string) => String.fromCharCode(parseInt(hex, 16)),
  );
}

function unknown(key: string): SmtpError {
  return new SmtpError(555, "5.5.4", `Unsupported parameter ${key}`);
}

function bad(key: string): SmtpError {
  return new SmtpError(501, "5.5.4", `Invalid value for ${key}`);
}

/** Validates MAIL FROM parameters. Throws {@linkcode SmtpError}. */
export function parseMailParams(text: string): MailParams {
  const result: MailParams = { smtputf8: false };
  for (const [key, value] of splitParams(text)) {
    switch (key) {
      case "SIZE":
        if (value === undefined || !/^\d{1,20}$/.test(value)) throw bad(key);
        result.size = Number(value);
        break;
      case "BODY": {
        const body = value === undefined ? undefined : asciiUpper(value);
        if (body !== "7BIT" && body !== "8BITMIME") throw bad(key);
        result.body = body;
        break;
      }
      case "SMTPUTF8":
        if (value !== undefined) throw bad(key);
        result.smtputf8 = true;
        break;
      case "RET": {
        const ret = value === undefined ? undefined : asciiUpper(value);
        if (ret !== "FULL" && ret !== "HDRS") throw bad(key);
        result.ret = ret;
        break;
      }
      case "ENVID":
        if (value === undefined || value.length > 100) throw bad(key);
        result.envid = decodeXtext(value);
        break;
      default:
        throw unknown(key);
    }
  }
  return result;
}

/** Validates RCPT TO parameters. Throws {@linkcode SmtpError}. */
export function parseRcptParams(text: string): RcptParams {
  const result: RcptParams = {};
  for (const [key, value] of splitParams(text)) {
    switch (key) {
      case "NOTIFY": {
        const words = value === undefined ? [] : asciiUpper(value).split(",");
        const allowed = ["NEVER", "SUCCESS", "FAILURE", "DELAY"];
        if (words.length === 0 || words.some((w) => !allowed.includes(w))) throw bad(key);
        if (words.includes("NEVER") && words.length > 1) throw bad(key);
        if (new Set(words).size !== words.length) throw bad(key);
        result.notify = words as RcptParams["notify"] & string[];
        break;
      }
      case "ORCPT": {
        const semi = value?.indexOf(";") ?? -1;
        if (value === undefined || semi <= 0 || value.length > 500) throw bad(key);
        result.orcpt = {
          type: value.slice(0, semi).toLowerCase(),
          address: decodeXtext(value.slice(semi + 1)),
        };
        break;
      }
      default:
        throw unknown(key);
    }
  }
  return result;
}
