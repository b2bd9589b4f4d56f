// @anthropic-ai/sdk against /v1/messages: create, the messages.stream() helper, a tool_use /
// tool_result round trip (forced with tool_choice any), count_tokens, the beta surface (betas header),
// the SDK's own agent loop (beta.messages.toolRunner) and structured output (messages.parse + zodOutputFormat).
// Scripted replies, in order: TEXT, TEXT, CALL, FINAL, CALL, FINAL, TEXT, CALL, FINAL, WEATHER_JSON.
import Anthropic from "@anthropic-ai/sdk";
import { zodOutputFormat } from "@anthropic-ai/sdk/helpers/zod";
import { z } from "zod";
import { BASE, MAX_TOKENS, QUESTION, RESULT, CITY_SCHEMA, check, cityArguments, run } from "./lib.mjs";

const client = new Anthropic({ baseURL: BASE, apiKey: "unused", maxRetries: 0, timeout: 300_000 });
const tools = [{ name: "get_weather", description: "Current weather in a city.", input_schema: CITY_SCHEMA }];
const user = [{ role: "user", content: QUESTION }];
const text = (message) => message.content.filter((block) => block.type === "text").map((block) => block.text).join("");

async function toolTurns(stream) {
  const request = { model: "claude-sonnet-4-5", max_tokens: MAX_TOKENS, messages: user, tools,
    tool_choice: { type: "any", disable_parallel_tool_use: true } };
  const first = stream ? await client.messages.stream(request).finalMessage() : await client.messages.create(request);
  check(first.stop_reason === "tool_use", "stop_reason tool_use", first);
  const use = first.content.find((block) => block.type === "tool_use");
  check(use && use.name === "get_weather" && use.id, "tool_use block", first.content);
  const input = cityArguments("tool_use", use.input);
  const second = await client.messages.create({
    model: "claude-sonnet-4-5", max_tokens: MAX_TOKENS, tools, tool_choice: { type: "none" },
    messages: [...user, { role: "assistant", content: first.content },
      { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: [{ type: "text", text: RESULT }] }] }],
  });
  check(text(second) && !second.content.some((block) => block.type === "tool_use"), "final answer", second);
  return { input, text: text(second), stop_reason: second.stop_reason };
}

await run("anthropic_messages", {
  create: async () => {
    const message = await client.messages.create({
      model: "claude-sonnet-4-5", max_tokens: MAX_TOKENS, system: "Be brief.", messages: user, temperature: 0,
      metadata: { user_id: "user-1234" }, stop_sequences: ["<|never|>"],
    });
    check(message.type === "message" && message.role === "assistant", "create shape", message);
    check(message.usage.input_tokens > 0 && message.usage.output_tokens > 0, "create usage", message.usage);
    return { text: text(message), stop_reason: message.stop_reason };
  },
  stream: async () => {
    const stream = client.messages.stream({ model: "claude-sonnet-4-5", max_tokens: MAX_TOKENS, messages: user,
      system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }] });
    let deltas = "";
    stream.on("text", (delta) => { deltas += delta; });
    const final = await stream.finalMessage();
    check(deltas === text(final), "text deltas add up", { deltas, final: text(final) });
    return { text: text(final), stop_reason: final.stop_reason };
  },
  tool_loop: () => toolTurns(false),
  tool_loop_stream: () => toolTurns(true),
  count_tokens: async () => {
    const counted = await client.messages.countTokens({ model: "claude-sonnet-4-5", messages: user, tools });
    check(Number.isInteger(counted.input_tokens) && counted.input_tokens > 0, "count_tokens", counted);
    return { input_tokens: counted.input_tokens };
  },
  models: async () => {
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    const model = await client.models.retrieve(ids[0]);
    check(model.id === ids[0] && model.type === "model" && model.display_name, "models.retrieve", model);
    return { ids };
  },
  beta: async () => {
    const message = await client.beta.messages.create({
      model: "claude-sonnet-4-5", max_tokens: MAX_TOKENS, messages: user,
      betas: ["token-efficient-tools-2025-02-19", "interleaved-thinking-2025-05-14"],
    });
    return { text: text(message), stop_reason: message.stop_reason };
  },
  tool_runner: async () => {
    // The SDK's loop: it runs the tool and sends the tool_result itself (and asks for a message
    // thread first, going on with the full history when the server says it holds none).
    const ran = [];
    const runner = client.beta.messages.toolRunner({
      model: "claude-sonnet-4-5", max_tokens: MAX_TOKENS, messages: user, max_iterations: 2,
      tools: [{ ...tools[0], run: async (input) => { ran.push(input); return RESULT; } }],
    });
    const contents = [];
    for await (const message of runner) contents.push(message.content);
    check(ran.length >= 1, "the tool ran", contents);
    cityArguments("tool input", ran[0]);
    return { turns: contents.length, input: ran[0], last: contents.at(-1) };
  },
  parse_output_format: async () => {
    const message = await client.messages.parse({
      model: "claude-sonnet-4-5", max_tokens: MAX_TOKENS, messages: [{ role: "user", content: "Weather in Paris as JSON." }],
      output_config: { format: zodOutputFormat(z.object({ city: z.string(), temperature: z.number().int() })) },
    });
    const parsed = message.parsed_output;
    check(parsed && typeof parsed.city === "string" && Number.isInteger(parsed.temperature), "parsed_output", message);
    return { parsed };
  },
});
