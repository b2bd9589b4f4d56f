// openai-node against /v1/chat/completions: plain, streamed with usage, the fields apps send,
// a tool round trip (non-stream and with the stream helper), json_schema output, models.list + retrieve.
// Scripted replies, in order: TEXT, TEXT, TEXT, CALL, FINAL, CALL, FINAL, WEATHER_JSON.
import OpenAI from "openai";
import { BASE, MAX_TOKENS, QUESTION, RESULT, CITY_SCHEMA, WEATHER_SCHEMA, check, cityArguments, run } from "./lib.mjs";

const client = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: "unused", maxRetries: 0, timeout: 300_000 });
const user = [{ role: "user", content: QUESTION }];
const tools = [{ type: "function", function: { name: "get_weather", description: "Current weather in a city.", parameters: CITY_SCHEMA } }];

async function toolTurns(stream) {
  let message;
  if (stream) {
    const runner = client.chat.completions.stream({
      model: "gpt-4o", messages: user, tools, tool_choice: "required", parallel_tool_calls: false,
      max_completion_tokens: MAX_TOKENS, temperature: 0, stream_options: { include_usage: true },
    });
    const completion = await runner.finalChatCompletion();
    check(completion.choices[0].finish_reason === "tool_calls", "stream finish_reason", completion.choices[0]);
    message = completion.choices[0].message;
  } else {
    const first = await client.chat.completions.create({
      model: "gpt-4o", messages: user, tools, tool_choice: "required", parallel_tool_calls: false,
      max_completion_tokens: MAX_TOKENS, temperature: 0,
    });
    check(first.choices[0].finish_reason === "tool_calls", "finish_reason", first.choices[0]);
    message = first.choices[0].message;
  }
  const call = message.tool_calls?.[0];
  check(call && call.type === "function" && call.function.name === "get_weather" && call.id, "tool call", message);
  const args = cityArguments("tool call", call.function.arguments);
  const second = await client.chat.completions.create({
    model: "gpt-4o", temperature: 0, max_completion_tokens: MAX_TOKENS, tools, tool_choice: "none",
    messages: [...user, { role: "assistant", content: message.content ?? null, tool_calls: message.tool_calls },
      { role: "tool", tool_call_id: call.id, content: RESULT }],
  });
  const answer = second.choices[0].message;
  check(answer.content && !answer.tool_calls?.length, "final answer", answer);
  return { arguments: args, answer: answer.content, finish_reason: second.choices[0].finish_reason };
}

await run("openai_chat", {
  create: async () => {
    const answer = await client.chat.completions.create({ model: "gpt-4o-mini", messages: user, max_tokens: MAX_TOKENS, temperature: 0 });
    check(answer.object === "chat.completion" && answer.choices[0].message.role === "assistant", "create shape", answer);
    check(answer.usage?.prompt_tokens > 0 && answer.usage?.completion_tokens > 0, "create usage", answer.usage);
    return { content: answer.choices[0].message.content, finish_reason: answer.choices[0].finish_reason };
  },
  stream: async () => {
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini", messages: user, stream: true, stream_options: { include_usage: true },
      max_tokens: MAX_TOKENS, temperature: 0,
    });
    let content = "", usage = null, finish = null, chunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) {
        content += choice.delta?.content ?? "";
        finish = choice.finish_reason ?? finish;
      }
    }
    check(usage && usage.completion_tokens > 0, "stream usage chunk", usage);
    return { content, finish_reason: finish, chunks };
  },
  app_fields: async () => {
    // The optional fields apps and SDK wrappers pass along: accepted, not a 400/422.
    const answer = await client.chat.completions.create({
      model: "gpt-4o-mini", messages: [{ role: "developer", content: "Be brief." }, ...user],
      max_completion_tokens: MAX_TOKENS, temperature: 0, top_p: 1, n: 1, store: false,
      metadata: { app: "js-clients" }, user: "user-1234", service_tier: "auto", seed: 7,
      frequency_penalty: 0, presence_penalty: 0, logit_bias: {}, stop: ["<|never|>"],
      prompt_cache_key: "js-clients", safety_identifier: "user-1234", modalities: ["text"],
    });
    return { content: answer.choices[0].message.content };
  },
  tool_loop: () => toolTurns(false),
  tool_loop_stream: () => toolTurns(true),
  json_schema: async () => {
    const answer = await client.chat.completions.create({
      model: "gpt-4o", messages: [{ role: "user", content: "Weather in Paris as JSON." }], temperature: 0,
      max_completion_tokens: MAX_TOKENS,
      response_format: { type: "json_schema", json_schema: { name: "weather", strict: true, schema: WEATHER_SCHEMA } },
    });
    const parsed = JSON.parse(answer.choices[0].message.content);
    check(typeof parsed.city === "string" && Number.isInteger(parsed.temperature), "json_schema output", parsed);
    return { parsed };
  },
  models: async () => {
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    check(ids.length > 0, "models.list", ids);
    const model = await client.models.retrieve(ids[0]);
    check(model.id === ids[0] && model.object === "model", "models.retrieve", model);
    return { ids };
  },
});
