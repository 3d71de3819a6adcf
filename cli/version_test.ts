import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { bakedCommit, currentCommit, gitCommit, type ReadText, versionLine } from "./version.ts";

const A = "624e3e9" + "d".repeat(33);
const B = "84bcbdd" + "0".repeat(33);

/** A fake file system: a missing path throws, a directory throws EISDIR. */
function files(entries: Record<string, string>, dirs: string[] = []): ReadText {
  return (path) => {
    if (dirs.includes(path)) throw new Error("EISDIR");
    const text = entries[path];
    if (text === undefined) throw new Error(`ENOENT ${path}`);
    return text;
  };
}

test("gitCommit() follows a symbolic HEAD to a loose ref", () => {
  const read = files({
    "/r/.git/HEAD": "ref: refs/heads/main\n",
    "/r/.git/refs/heads/main": A + "\n",
  }, [
    "/r/.git",
  ]);
  assert.equal(gitCommit("/r", read), "624e3e9");
});

test("gitCommit() finds a ref in packed-refs", () => {
  const read = files({
    "/r/.git/HEAD": "ref: refs/heads/dev\n",
    "/r/.git/packed-refs":
      `# pack-refs with: peeled fully-peeled sorted\n${A} refs/heads/main\n${B} refs/heads/dev\n`,
  }, ["/r/.git"]);
  assert.equal(gitCommit("/r", read), "84bcbdd");
});

test("gitCommit() reads a detached HEAD", () => {
  assert.equal(gitCommit("/r", files({ "/r/.git/HEAD": A + "\n" }, ["/r/.git"])), "624e3e9");
});

test("gitCommit() follows a worktree's gitdir file and commondir", () => {
  const read = files({
    "/w/.git": "gitdir: /r/.git/worktrees/w\n",
    "/r/.git/worktrees/w/HEAD": "ref: refs/heads/feature\n",
    "/r/.git/worktrees/w/commondir": "../..\n",
    "/r/.git/refs/heads/feature": A,
  });
  assert.equal(gitCommit("/w", read), "624e3e9");
});

test("gitCommit() is undefined without a repository or with a dangling ref", () => {
  assert.equal(gitCommit("/none", files({})), undefined);
  const dangling = files({ "/r/.git/HEAD": "ref: refs/heads/main\n" }, ["/r/.git"]);
  assert.equal(gitCommit("/r", dangling), undefined);
  const garbage = files({ "/r/.git/HEAD": "nonsense\n" }, ["/r/.git"]);
  assert.equal(gitCommit("/r", garbage), undefined);
});

test("gitCommit() agrees with git rev-parse on this checkout", (t) => {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  let expected: string;
  try {
    expected = execFileSync("git", ["-C", root, "rev-parse", "--short=7", "HEAD"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    t.skip("no git or no repository");
    return;
  }
  assert.ok(existsSync(join(root, ".git")));
  assert.equal(gitCommit(root), expected);
  // Run from source, nothing is baked in, so the checkout decides.
  assert.equal(bakedCommit(), undefined);
  assert.equal(currentCommit(root), expected);
});

test("currentCommit() is unknown outside a checkout", () => {
  assert.equal(currentCommit("/nonexistent-postino-root"), "unknown");
});

test("versionLine() names the version, the runtime and the commit", () => {
  assert.equal(versionLine("0.1.0", "bun", "624e3e9"), "postino 0.1.0 (bun, commit 624e3e9)");
});
