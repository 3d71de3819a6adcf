/**
 * What `postino version` prints: the version, the runtime and the commit.
 *
 * The compiled binary has the commit baked in: `scripts/compile.sh` passes
 * `--define POSTINO_COMMIT="…"` to `bun build`. Run from source, the commit
 * comes from the checkout's `.git` (read as files, no `git` process), and it
 * is `unknown` when there is none, e.g. in an unpacked tarball.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

// Replaced by a string literal at build time; an undeclared global otherwise,
// which `typeof` reads safely as "undefined".
declare const POSTINO_COMMIT: string | undefined;

/** The commit baked into a compiled binary, if any. */
export function bakedCommit(): string | undefined {
  return typeof POSTINO_COMMIT === "string" && POSTINO_COMMIT !== "" ? POSTINO_COMMIT : undefined;
}

/** Reads a file as text; injectable so tests need no real repository. */
export type ReadText = (path: string) => string;

const readText: ReadText = (path) => readFileSync(path, "utf8");

/** A full object name: SHA-1 (40 hex digits) or SHA-256 (64). */
const OBJECT_ID = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

function tryRead(read: ReadText, path: string): string | undefined {
  try {
    return read(path);
  } catch {
    return undefined;
  }
}

/**
 * The short commit (7 hex digits) that `root`'s checkout is at, or
 * `undefined` when there is no readable `.git`. Follows a `gitdir:` file
 * (worktrees, submodules), a symbolic HEAD, loose refs and `packed-refs`.
 *
 * @example
 * ```ts
 * gitCommit("/src/postino"); // "624e3e9"
 * ```
 */
export function gitCommit(root: string, read: ReadText = readText): string | undefined {
  let gitDir = join(root, ".git");
  // In a worktree `.git` is a file naming the real directory; reading a
  // directory throws, which leaves gitDir as it is.
  const pointer = /^gitdir: (.+)$/m.exec(tryRead(read, gitDir) ?? "")?.[1];
  if (pointer !== undefined) gitDir = resolve(root, pointer.trim());
  const head = tryRead(read, join(gitDir, "HEAD"))?.trim();
  if (head === undefined) return undefined;
  if (OBJECT_ID.test(head)) return head.slice(0, 7); // detached HEAD
  const ref = /^ref: (\S+)$/.exec(head)?.[1];
  if (ref === undefined) return undefined;
  // A worktree keeps its HEAD but shares refs with the main repository.
  const common = tryRead(read, join(gitDir, "commondir"))?.trim();
  const commonDir = common ? resolve(gitDir, common) : gitDir;
  for (const dir of new Set([gitDir, commonDir])) {
    const loose = tryRead(read, join(dir, ref))?.trim();
    if (loose !== undefined && OBJECT_ID.test(loose)) return loose.slice(0, 7);
  }
  for (const line of (tryRead(read, join(commonDir, "packed-refs")) ?? "").split("\n")) {
    const [id, name] = line.trim().split(" ");
    if (name === ref && id !== undefined && OBJECT_ID.test(id)) return id.slice(0, 7);
  }
  return undefined;
}

/** The commit to report: baked in, else from `root`'s `.git`, else `unknown`. */
export function currentCommit(root: string): string {
  return bakedCommit() ?? gitCommit(root) ?? "unknown";
}

/**
 * The `postino version` line.
 *
 * @example
 * ```ts
 * versionLine("0.1.0", "bun", "624e3e9"); // "postino 0.1.0 (bun, commit 624e3e9)"
 * ```
 */
export function versionLine(version: string, runtime: string, commit: string): string {
  return `postino ${version} (${runtime}, commit ${commit})`;
}
