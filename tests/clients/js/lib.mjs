// Shared helpers for the client scripts: the base URL, checks, and the one-JSON-line report.
// Each script prints exactly one JSON line on stdout on success and exits 1 with a message on failure.

/** The server's base URL (no /v1): LMSTREAM_BASE_URL or the first argument. */
export const BASE = (process.env.LMSTREAM_BASE_URL ?? process.argv[2] ?? "").replace(/\/+$/, "");
if (!BASE) {
  console.error("usage: node SCRIPT.mjs BASE_URL (or set LMSTREAM_BASE_URL), e.g. http://127.0.0.1:8000");
  process.exit(2);
}

/** Upper bound on generated tokens per request: small, so a real model answers quickly. */
export const MAX_TOKENS = Number(process.env.LMSTREAM_MAX_TOKENS ?? 64);

export const QUESTION = "What is the weather in Paris right now? Use the tool.";
export const RESULT = "Sunny, 24 degrees Celsius.";
export const CITY_SCHEMA = {
  type: "object",
  properties: { city: { type: "string" } },
  required: ["city"],
  additionalProperties: false,
};
export const WEATHER_SCHEMA = {
  type: "object",
  properties: { city: { type: "string" }, temperature: { type: "integer" } },
  required: ["city", "temperature"],
  additionalProperties: false,
};

/** Throws with a message naming the step when the condition does not hold. */
export function check(condition, step, detail) {
  if (!condition) {
    throw new Error(`${step}: check failed${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
  }
}

/** Parses a tool call's arguments and checks they name a city. */
export function cityArguments(step, args) {
  const parsed = typeof args === "string" ? JSON.parse(args) : args;
  check(parsed && typeof parsed.city === "string", `${step}: arguments have a string city`, parsed);
  return parsed;
}

/** Runs the steps in order; prints {"script", "ok": true, "results"} or the failing step and exits 1. */
export async function run(script, steps) {
  const results = {};
  const only = process.env.LMSTREAM_STEPS ? new Set(process.env.LMSTREAM_STEPS.split(",")) : null;
  for (const [name, step] of Object.entries(steps)) {
    if (only && !only.has(name)) continue;
    try {
      results[name] = await step();
    } catch (error) {
      const status = error?.status ? ` (HTTP ${error.status})` : "";
      const body = error?.error ? ` body=${JSON.stringify(error.error)}` : error?.responseBody ? ` body=${error.responseBody}` : "";
      console.error(`${script} step ${name} FAILED${status}: ${error?.message ?? error}${body}`);
      if (error?.stack) console.error(error.stack);
      if (error?.cause) console.error("cause:", error.cause?.message ?? error.cause, error.cause?.responseBody ?? "");
      console.log(JSON.stringify({ script, ok: false, failed: name, results }));
      process.exit(1);
    }
  }
  console.log(JSON.stringify({ script, ok: true, results }));
}
