// One entry of the transcript: the user's message, the agent's (Markdown, rendered safely by
// chat/markdown.tsx), a tool call (name, short summary, expandable input and output), or a
// notice (a retry, an error). All model and tool text is rendered as text nodes.

import type { Entry } from "../chat/transcript";
import { Markdown } from "../chat/markdown";
import { argumentSummary, pretty, readableName } from "../chat/toolSummary";
import { toolFailure } from "../chat/errors";

function ToolCall({ entry }: { entry: Extract<Entry, { kind: "tool" }> }) {
  const failure = toolFailure(entry.result);
  const summary = argumentSummary(entry.args);
  const state = !entry.done ? "running…" : failure ? "failed" : "done";
  return (
    <details class={`tool ${failure ? "tool-failed" : ""}`} data-testid="tool-call">
      <summary aria-label={`Tool ${readableName(entry.name)}, ${state}. Show input and output.`}>
        <span class="tool-name">{readableName(entry.name)}</span>
        {summary && <span class="tool-args"> · {summary}</span>}
        <span class="tool-state"> · {state}</span>
      </summary>
      {failure && <p class="tool-failure">The tool could not answer: {failure}</p>}
      <h4>Input</h4>
      <pre>{pretty(entry.args || "{}")}</pre>
      <h4>Output</h4>
      <pre>{entry.result === undefined ? "(waiting)" : pretty(entry.result)}</pre>
    </details>
  );
}

export function EntryView({ entry }: { entry: Entry }) {
  switch (entry.kind) {
    case "user":
      return (
        <li class="message user" aria-label="You said">
          <p>{entry.text}</p>
        </li>
      );
    case "assistant":
      return (
        <li class="message assistant" aria-label="The agent said" aria-busy={entry.streaming} data-testid="assistant-message">
          <Markdown text={entry.text} />
          {entry.streaming && <span class="cursor" aria-hidden="true">▍</span>}
        </li>
      );
    case "tool":
      return (
        <li class="message tool-entry">
          <ToolCall entry={entry} />
        </li>
      );
    case "notice":
      return (
        <li class={`notice ${entry.tone}`} role={entry.tone === "error" ? "alert" : "status"} data-testid={`notice-${entry.tone}`}>
          {entry.text}
        </li>
      );
  }
}
