/**
 * Loads a custom plugin from a `.ts`/`.js` file at run time. The file's
 * default export is a plugin object or a function that receives the
 * {@linkcode PluginHost}; it works from source and from the compiled binary.
 *
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { PluginExport, PluginHost } from "../core/hooks/host.ts";
import type { Plugin } from "../core/hooks/plugin.ts";

/** Whether a `--plugin` value names a file rather than a built-in. */
export function isPluginPath(spec: string): boolean {
  return spec.includes("/") || /\.(ts|js|mjs)$/.test(spec);
}

/** Imports `path` and builds its plugin with `host`. */
export async function importPluginFile(path: string, host: PluginHost): Promise<Plugin> {
  const url = pathToFileURL(resolve(path)).href;
  let module: { default?: PluginExport };
  try {
    module = await import(url);
  } catch (error) {
    throw new Error(`cannot load plugin ${path}: ${(error as Error).message}`);
  }
  const exported = module.default;
  const plugin = typeof exported === "function" ? await exported(host) : exported;
  if (typeof plugin !== "object" || plugin === null || typeof plugin.name !== "string") {
    throw new Error(
      `plugin ${path}: the default export must be a plugin or a function returning one`,
    );
  }
  return plugin;
}
