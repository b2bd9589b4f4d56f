// The Vercel AI SDK (`ai`) with a provider pointed at lmstream: generateText and streamText running
// the SDK's own tool loop (stopWhen + prepareStep forcing the call on step 0, text after the result),
// and structured output (generateText with Output.object, and the older generateObject, on a zod schema).
// Provider from argv[3] or LMSTREAM_PROVIDER: openai-chat (Chat Completions), openai-responses
// (Responses, the openai provider's default), anthropic (Messages), openai-compatible (the provider
// meant for local OpenAI-style servers, Chat Completions with usage and structured outputs on).
// Scripted replies, in order: CALL, FINAL, CALL, FINAL, WEATHER_JSON, WEATHER_JSON.
import { Output, generateObject, generateText, stepCountIs, streamText, tool } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { z } from "zod";
import { BASE, MAX_TOKENS, QUESTION, RESULT, check, cityArguments, run } from "./lib.mjs";

const which = process.argv[3] ?? process.env.LMSTREAM_PROVIDER ?? "openai-chat";
const openai = createOpenAI({ baseURL: `${BASE}/v1`, apiKey: "unused" });
const anthropic = createAnthropic({ baseURL: `${BASE}/v1`, apiKey: "unused" });
const compatible = createOpenAICompatible({
  name: "lmstream", baseURL: `${BASE}/v1`, apiKey: "unused", includeUsage: true, supportsStructuredOutputs: true,
});
const models = {
  "openai-compatible": () => compatible.chatModel("local-model"),
  "openai-chat": () => openai.chat("gpt-4o"),
  "openai-responses": () => openai.responses("gpt-4.1"),
  anthropic: () => anthropic("claude-sonnet-4-5"),
};
check(which in models, `provider is one of ${Object.keys(models).join(", ")}`, which);
const model = models[which]();

const weather = z.object({ city: z.string(), temperature: z.number().int() });
const calls = [];
const tools = {
  get_weather: tool({
    description: "Current weather in a city.",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => { calls.push(city); return RESULT; },
  }),
};
const loop = {
  model, tools, prompt: QUESTION, maxOutputTokens: MAX_TOKENS, temperature: 0, maxRetries: 0,
  stopWhen: stepCountIs(3),
  prepareStep: ({ stepNumber }) => ({ toolChoice: stepNumber === 0 ? "required" : "none" }),
};

function summary(steps, text) {
  const toolCalls = steps.flatMap((step) => step.toolCalls);
  check(toolCalls.length >= 1 && toolCalls[0].toolName === "get_weather", "a get_weather call in step 0", toolCalls);
  const args = cityArguments("tool call", toolCalls[0].input);
  check(steps.length >= 2 && text.trim(), "a text answer after the tool result", { steps: steps.length, text });
  return { steps: steps.length, arguments: args, text, finishReason: steps.at(-1).finishReason };
}

globalThis.AI_SDK_LOG_WARNINGS = false;
await run(`ai_sdk:${which}`, {
  generate_text_loop: async () => {
    const result = await generateText(loop);
    return { ...summary(result.steps, result.text), usage: result.totalUsage.outputTokens > 0 };
  },
  stream_text_loop: async () => {
    const errors = [];
    const result = streamText({ ...loop, onError: ({ error }) => errors.push(String(error?.message ?? error)) });
    let deltas = "";
    for await (const delta of result.textStream) deltas += delta;
    check(errors.length === 0, "stream errors", errors);
    const steps = await result.steps;
    const text = await result.text;
    check(deltas.endsWith(text), "text deltas end with the final step's text", { deltas, text });
    return summary(steps, text);
  },
  output_object: async () => {
    const { output } = await generateText({
      model, output: Output.object({ schema: weather, name: "weather" }),
      prompt: "Weather in Paris as JSON.", maxOutputTokens: MAX_TOKENS, temperature: 0, maxRetries: 0,
    });
    check(typeof output.city === "string" && Number.isInteger(output.temperature), "Output.object", output);
    return { object: output };
  },
  generate_object: async () => {
    const { object } = await generateObject({
      model, schema: weather, schemaName: "weather",
      prompt: "Weather in Paris as JSON.", maxOutputTokens: MAX_TOKENS, temperature: 0, maxRetries: 0,
    });
    check(typeof object.city === "string" && Number.isInteger(object.temperature), "generateObject", object);
    return { object };
  },
});
