// LangChain JS (@langchain/openai ChatOpenAI) against /v1/chat/completions: invoke, stream,
// bindTools with a forced call and a ToolMessage back, withStructuredOutput (json_schema).
// Scripted replies, in order: TEXT, TEXT, CALL, FINAL, WEATHER_JSON.
import { ChatOpenAI } from "@langchain/openai";
import { HumanMessage, ToolMessage } from "@langchain/core/messages";
import { z } from "zod";
import { BASE, MAX_TOKENS, QUESTION, RESULT, CITY_SCHEMA, check, cityArguments, run } from "./lib.mjs";

const chat = new ChatOpenAI({
  model: "gpt-4o", apiKey: "unused", temperature: 0, maxTokens: MAX_TOKENS, maxRetries: 0, timeout: 300_000,
  configuration: { baseURL: `${BASE}/v1` },
});
const tools = [{ type: "function", function: { name: "get_weather", description: "Current weather in a city.", parameters: CITY_SCHEMA } }];

await run("langchain_openai", {
  invoke: async () => {
    const message = await chat.invoke([new HumanMessage(QUESTION)]);
    check(typeof message.content === "string" && message.usage_metadata?.output_tokens > 0, "invoke", message);
    return { content: message.content };
  },
  stream: async () => {
    let content = "";
    for await (const chunk of await chat.stream(QUESTION)) content += chunk.content;
    return { content };
  },
  tool_loop: async () => {
    const history = [new HumanMessage(QUESTION)];
    const first = await chat.bindTools(tools, { tool_choice: "required" }).invoke(history);
    const call = first.tool_calls?.[0];
    check(call && call.name === "get_weather" && call.id, "tool call", first);
    const args = cityArguments("tool call", call.args);
    history.push(first, new ToolMessage({ tool_call_id: call.id, content: RESULT }));
    const second = await chat.bindTools(tools, { tool_choice: "none" }).invoke(history);
    check(second.content && !second.tool_calls?.length, "final answer", second);
    return { arguments: args, content: second.content };
  },
  structured_output: async () => {
    const structured = chat.withStructuredOutput(z.object({ city: z.string(), temperature: z.number().int() }), { name: "weather", method: "jsonSchema" });
    const object = await structured.invoke("Weather in Paris as JSON.");
    check(typeof object.city === "string" && Number.isInteger(object.temperature), "withStructuredOutput", object);
    return { object };
  },
});
