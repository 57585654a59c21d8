// The conversation as the page shows it, built from the AG-UI events of each run
// (<https://docs.ag-ui.com/concepts/events>): text messages streamed by delta, tool calls with
// their arguments and result, and the notices the page adds (retries, errors). The agent keeps
// the real history server-side (README "Two ways to ask"); this is only the page's view of it,
// cached in sessionStorage so a reload shows what was said (see `store.ts`).

export type Entry =
  | { kind: "user"; id: string; text: string }
  | { kind: "assistant"; id: string; text: string; streaming: boolean }
  | { kind: "tool"; id: string; name: string; args: string; result?: string; done: boolean }
  | { kind: "notice"; id: string; tone: "info" | "error"; text: string };

/** The AG-UI event fields the page reads; everything else is ignored. */
export interface AguiEvent {
  type: string;
  messageId?: string;
  delta?: string;
  toolCallId?: string;
  toolCallName?: string;
  content?: string;
  name?: string;
  value?: unknown;
  message?: string;
  code?: string;
}

let noticeCount = 0;
export function notice(tone: "info" | "error", text: string): Entry {
  noticeCount += 1;
  return { kind: "notice", id: `notice-${Date.now()}-${noticeCount}`, tone, text };
}

function update(entries: Entry[], id: string | undefined, change: (entry: Entry) => Entry): Entry[] {
  return entries.map((entry) => (entry.id === id ? change(entry) : entry));
}

/** The agent's `CUSTOM` `model_retry` (contract/agui/mod.rs): the partial answer is withdrawn. */
function modelRetry(entries: Entry[], value: unknown): Entry[] {
  const retry = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const discarded = typeof retry.discardMessageId === "string" ? retry.discardMessageId : undefined;
  const kept = discarded ? entries.filter((entry) => entry.id !== discarded) : entries;
  const delayMs = typeof retry.delayMs === "number" ? retry.delayMs : 0;
  // `attempt` counts the retries so far; the next call is one more.
  const attempt = typeof retry.attempt === "number" ? ` (attempt ${retry.attempt + 1})` : "";
  const wait = delayMs >= 1000 ? ` in about ${Math.round(delayMs / 1000)} s` : " in a moment";
  const dropped = discarded ? " The unfinished answer above was dropped; a new one follows." : "";
  return [...kept, notice("info", `The model was busy or interrupted, so the agent is asking again${wait}${attempt}.${dropped}`)];
}

/** `entries` after one event of a run. */
export function applyEvent(entries: Entry[], event: AguiEvent): Entry[] {
  switch (event.type) {
    case "TEXT_MESSAGE_START":
      return [...entries, { kind: "assistant", id: event.messageId ?? "", text: "", streaming: true }];
    case "TEXT_MESSAGE_CONTENT":
      return update(entries, event.messageId, (entry) =>
        entry.kind === "assistant" ? { ...entry, text: entry.text + (event.delta ?? "") } : entry,
      );
    case "TEXT_MESSAGE_END":
      return update(entries, event.messageId, (entry) =>
        entry.kind === "assistant" ? { ...entry, streaming: false } : entry,
      );
    case "TOOL_CALL_START":
      return [...entries, { kind: "tool", id: event.toolCallId ?? "", name: event.toolCallName ?? "tool", args: "", done: false }];
    case "TOOL_CALL_ARGS":
      return update(entries, event.toolCallId, (entry) =>
        entry.kind === "tool" ? { ...entry, args: entry.args + (event.delta ?? "") } : entry,
      );
    case "TOOL_CALL_RESULT":
      return update(entries, event.toolCallId, (entry) =>
        entry.kind === "tool" ? { ...entry, result: event.content ?? "", done: true } : entry,
      );
    case "CUSTOM":
      return event.name === "model_retry" ? modelRetry(entries, event.value) : entries;
    default:
      return entries;
  }
}

/** Marks what was still streaming as ended (a stopped or failed run). */
export function settle(entries: Entry[]): Entry[] {
  return entries.map((entry) => {
    if (entry.kind === "assistant" && entry.streaming) return { ...entry, streaming: false };
    if (entry.kind === "tool" && !entry.done) return { ...entry, done: true };
    return entry;
  });
}
