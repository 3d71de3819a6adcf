/**
 * `GET /metrics`: the Prometheus scrape (text format 0.0.4). Open like
 * `/api/health`, so a Prometheus server needs no token; it shows counts,
 * never addresses or message content.
 *
 * @module
 */
import type { Handler } from "hono";
import { EXPOSITION_CONTENT_TYPE } from "../metrics.ts";
import type { AdminDeps } from "./deps.ts";

/** The handler: gauges are read now, counters come from the event bus. */
export function metricsHandler(deps: AdminDeps): Handler {
  return (c) => {
    const text = deps.metrics.scrape({
      connections: deps.connections(),
      queue: deps.spool.depth(),
      now: deps.now(),
    });
    return c.body(text, 200, { "Content-Type": EXPOSITION_CONTENT_TYPE });
  };
}
