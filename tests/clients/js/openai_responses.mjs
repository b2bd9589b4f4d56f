// openai-node against /v1/responses: create, the .stream() helper, a function call round trip
// (function_call + function_call_output items sent back), previous_response_id, json_schema text format.
// Scripted replies, in order: TEXT, TEXT, CALL, FINAL, CALL, FINAL, WEATHER_JSON.
import OpenAI from "openai";
import { BASE, MAX_TOKENS, QUESTION, RESULT, CITY_SCHEMA, WEATHER_SCHEMA, check, cityArguments, run } from "./lib.mjs";

const client = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: "unused", maxRetries: 0, timeout: 300_000 });
const tools = [{ type: "function", name: "get_weather", description: "Current weather in a city.", parameters: CITY_SCHEMA, strict: true }];

function functionCalls(response) {
  return response.output.filter((item) => item.type === "function_call");
}

await run("openai_responses", {
  create: async () => {
    const response = await client.responses.create({
      model: "gpt-4.1", input: QUESTION, instructions: "Be brief.", max_output_tokens: MAX_TOKENS, temperature: 0,
      store: false, metadata: { app: "js-clients" }, user: "user-1234", truncation: "disabled",
    });
    const cutShort = response.status === "incomplete" && response.incomplete_details?.reason === "max_output_tokens";
    check(response.object === "response" && (response.status === "completed" || cutShort), "create status", response);
    check(response.usage?.input_tokens > 0 && response.usage?.output_tokens > 0, "create usage", response.usage);
    return { output_text: response.output_text, status: response.status };
  },
  stream: async () => {
    const stream = client.responses.stream({ model: "gpt-4.1", input: [{ role: "user", content: QUESTION }], max_output_tokens: MAX_TOKENS, temperature: 0 });
    const types = new Set();
    let deltas = "";
    for await (const event of stream) {
      types.add(event.type);
      if (event.type === "response.output_text.delta") deltas += event.delta;
    }
    const final = await stream.finalResponse();
    const terminal = types.has("response.completed") || types.has("response.incomplete");
    check(types.has("response.created") && terminal, "stream events", [...types]);
    check(deltas === final.output_text, "deltas add up to output_text", { deltas, final: final.output_text });
    return { output_text: final.output_text, events: [...types].sort() };
  },
  function_call_round_trip: async () => {
    const input = [{ role: "user", content: QUESTION }];
    const first = await client.responses.create({
      model: "gpt-4.1", input, tools, tool_choice: "required", parallel_tool_calls: false,
      max_output_tokens: MAX_TOKENS, temperature: 0, store: false,
    });
    const [call] = functionCalls(first);
    check(call && call.name === "get_weather" && call.call_id, "function_call item", first.output);
    const args = cityArguments("function_call", call.arguments);
    const second = await client.responses.create({
      model: "gpt-4.1", tools, tool_choice: "none", max_output_tokens: MAX_TOKENS, temperature: 0, store: false,
      input: [...input, ...first.output, { type: "function_call_output", call_id: call.call_id, output: RESULT }],
    });
    check(second.output_text && functionCalls(second).length === 0, "final answer", second.output);
    return { arguments: args, output_text: second.output_text };
  },
  previous_response_id: async () => {
    // The stored conversation: the second turn sends only the tool output and the previous id.
    const stream = client.responses.stream({
      model: "gpt-4.1", input: QUESTION, tools, tool_choice: "required", max_output_tokens: MAX_TOKENS, temperature: 0,
    });
    const first = await stream.finalResponse();
    const [call] = functionCalls(first);
    check(call && call.name === "get_weather", "streamed function_call", first.output);
    const second = await client.responses.create({
      model: "gpt-4.1", previous_response_id: first.id, tools, tool_choice: "none", max_output_tokens: MAX_TOKENS, temperature: 0,
      input: [{ type: "function_call_output", call_id: call.call_id, output: RESULT }],
    });
    check(second.output_text, "answer after previous_response_id", second.output);
    return { arguments: cityArguments("function_call", call.arguments), output_text: second.output_text };
  },
  json_schema: async () => {
    const response = await client.responses.create({
      model: "gpt-4.1", input: "Weather in Paris as JSON.", max_output_tokens: MAX_TOKENS, temperature: 0,
      text: { format: { type: "json_schema", name: "weather", strict: true, schema: WEATHER_SCHEMA } },
    });
    const parsed = JSON.parse(response.output_text);
    check(typeof parsed.city === "string" && Number.isInteger(parsed.temperature), "json_schema output", parsed);
    return { parsed };
  },
});
