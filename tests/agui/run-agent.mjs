// Runs the agent through the real AG-UI TypeScript client, as a browser app would, and checks
// every event it sends.
//
// Usage: node run-agent.mjs <invocations-url> <prompt> [<prompt> ...]
//   Each prompt is one run of the same HttpAgent, so the same thread: the client keeps the
//   conversation and sends it back with the next user message, as AG-UI clients do.
//   AGUI_HEADERS: optional JSON object of extra request headers.
//
// HttpAgent runs with its event verification on (the default): an event out of order fails
// the run. Besides, every frame of the raw SSE body is validated against @ag-ui/core's
// EventSchemas before the client sees it, and comment lines (keep-alives) are counted.
// Prints JSON lines:
//   {"run": n, "event": <the wire event>}            every data frame, in order
//   {"run": n, "type": "<TYPE>"}                      every event the client applied
//   {"run": n, "keepalives": k, "messages": [...]}   after each run: comment lines seen and
//                                                     the client's message list
//   {"error": "..."}                                  then exit 1, on any failure
import { randomUUID } from "node:crypto";
import { HttpAgent } from "@ag-ui/client";
import { EventSchemas } from "@ag-ui/core/schemas";

const [url, ...prompts] = process.argv.slice(2);
if (!url || prompts.length === 0) {
  console.error("usage: node run-agent.mjs <invocations-url> <prompt> [<prompt> ...]");
  process.exit(2);
}
const headers = JSON.parse(process.env.AGUI_HEADERS ?? "{}");

const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
const fail = (message) => {
  print({ error: message });
  process.exit(1);
};

let run = 0;
let keepalives = 0;
const wireErrors = [];

// Reads a copy of the body as SSE: blank-line separated frames, `data:` lines joined,
// comment lines (starting with ':') counted.
async function inspect(body, runIndex) {
  const decoder = new TextDecoder();
  let buffer = "";
  const frame = (text) => {
    const data = [];
    for (const line of text.split("\n")) {
      if (line.startsWith(":")) keepalives += 1;
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length === 0) return;
    const event = JSON.parse(data.join("\n"));
    print({ run: runIndex, event });
    const checked = EventSchemas.safeParse(event);
    if (!checked.success) {
      wireErrors.push(`${event.type}: ${checked.error.message}`);
    }
  };
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    const frames = buffer.split("\n\n");
    buffer = frames.pop();
    frames.forEach(frame);
  }
  if (buffer.trim()) frame(buffer);
}

const inspections = [];
const agent = new HttpAgent({
  url,
  headers,
  fetch: async (input, init) => {
    const response = await fetch(input, init);
    if (!response.ok || !response.body) return response;
    const [forClient, forCheck] = response.body.tee();
    inspections.push(inspect(forCheck, run));
    return new Response(forClient, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  },
});

for (const prompt of prompts) {
  agent.addMessage({ id: randomUUID(), role: "user", content: prompt });
  keepalives = 0;
  try {
    await agent.runAgent(
      { runId: randomUUID() },
      {
        onEvent: ({ event }) => print({ run, type: event.type }),
      },
    );
    await Promise.all(inspections);
  } catch (error) {
    fail(`run ${run}: ${error?.message ?? String(error)}`);
  }
  if (wireErrors.length > 0) fail(`run ${run}: invalid events: ${wireErrors.join("; ")}`);
  print({ run, keepalives, messages: agent.messages });
  run += 1;
}
