// The conversation kept across a reload, in sessionStorage (this tab only): its thread id (the
// agent's session id for AG-UI runs; the agent holds the history under it) and the page's own
// copy of the transcript. It records whose conversation it is, so a different user signing in
// on this tab starts fresh instead of seeing it; sign-out forgets it.

import type { Entry } from "./transcript";

const KEY = "support-chat.conversation";

export interface Conversation {
  threadId: string;
  /** The username the conversation belongs to. */
  owner: string;
  entries: Entry[];
  /** Whether it was read back from storage (the page then says "resumed"). */
  resumed: boolean;
}

/**
 * A new thread id: AgentCore's InvokeAgentRuntime takes session ids of 33 to 256 characters
 * (`runtimeSessionId`,
 * <https://docs.aws.amazon.com/bedrock-agentcore/latest/APIReference/API_InvokeAgentRuntime.html>);
 * a UUID with a prefix is 45.
 */
export function newThreadId(): string {
  return `web-chat-${crypto.randomUUID()}`;
}

export function newConversation(owner: string): Conversation {
  return { threadId: newThreadId(), owner, entries: [], resumed: false };
}

/** The stored conversation of `owner`, or a new one. */
export function loadConversation(owner: string): Conversation {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY) ?? "null") as Partial<Conversation> | null;
    if (stored && stored.owner === owner && typeof stored.threadId === "string" && Array.isArray(stored.entries)) {
      return { threadId: stored.threadId, owner, entries: stored.entries, resumed: true };
    }
  } catch {
    // Unreadable storage starts a new conversation.
  }
  return newConversation(owner);
}

export function saveConversation(conversation: Conversation): void {
  const { threadId, owner, entries } = conversation;
  sessionStorage.setItem(KEY, JSON.stringify({ threadId, owner, entries }));
}

export function forgetConversation(): void {
  sessionStorage.removeItem(KEY);
}
