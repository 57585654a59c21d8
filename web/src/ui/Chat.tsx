// The chat: who is signed in (and, for staff, that they act as staff), the transcript, the
// composer with Send and Stop, New conversation and Sign out. Each Send is one AG-UI run
// (chat/run.ts); its events update the transcript (chat/transcript.ts), which is cached for a
// reload (chat/store.ts). A 401 is retried once after a token refresh; anything else that goes
// wrong becomes a notice in plain words (chat/errors.ts).

import { useEffect, useRef, useState } from "preact/hooks";
import type { PageConfig } from "../config";
import type { AuthSession } from "../auth/session";
import type { Identity } from "../auth/tokens";
import { AgentRun, type RunOutcome } from "../chat/run";
import { applyEvent, notice, settle, type Entry } from "../chat/transcript";
import { explainRunError, explainStatus, UNAUTHORIZED } from "../chat/errors";
import { forgetConversation, loadConversation, newConversation, saveConversation, type Conversation } from "../chat/store";
import { EntryView } from "./Entry";

interface Props {
  config: PageConfig;
  auth: AuthSession;
  identity: Identity;
  onSignedOut: (message?: string) => void;
}

/**
 * Who the agent takes the user for: a linked customer sees only their own records; a user in a
 * group without a customer link is staff (the agent's staff group is its own setting,
 * ACCESS_STAFF_GROUP, so the page names the groups rather than guessing which one counts).
 */
function WhoAmI({ identity }: { identity: Identity }) {
  return (
    <p class="who" data-testid="who-am-i">
      Signed in as <strong>{identity.username}</strong>
      {identity.customerId ? (
        <span class="badge"> · customer {identity.customerId}: you see your own records</span>
      ) : identity.groups.length > 0 ? (
        <span class="badge staff"> · staff ({identity.groups.join(", ")}): you can look up any customer</span>
      ) : (
        <span class="badge"> · not linked to a customer account: product questions only</span>
      )}
    </p>
  );
}

export function Chat({ config, auth, identity, onSignedOut }: Props) {
  const [conversation, setConversation] = useState<Conversation>(() => loadConversation(identity.username));
  const [draft, setDraft] = useState("");
  const [running, setRunning] = useState<AgentRun>();
  const input = useRef<HTMLTextAreaElement>(null);
  const bottom = useRef<HTMLDivElement>(null);

  useEffect(() => saveConversation(conversation), [conversation]);
  useEffect(() => bottom.current?.scrollIntoView?.({ block: "end" }), [conversation.entries]);

  const change = (edit: (entries: Entry[]) => Entry[]) =>
    setConversation((current) => ({ ...current, entries: edit(current.entries) }));

  const runOnce = async (prompt: string, threadId: string): Promise<RunOutcome | "signed-out"> => {
    const idToken = await auth.idToken();
    if (!idToken) return "signed-out";
    let failed = false;
    const run = new AgentRun({
      agentUrl: config.agentUrl,
      idToken,
      threadId,
      prompt,
      onEvent: (event) => {
        if (event.type === "RUN_ERROR") {
          failed = true;
          change((entries) => [...settle(entries), notice("error", explainRunError(event.code, event.message))]);
        } else {
          change((entries) => applyEvent(entries, event));
        }
      },
    });
    setRunning(run);
    const outcome = await run.run();
    return failed ? { kind: "finished" } : outcome;
  };

  const send = async (event?: Event) => {
    event?.preventDefault();
    const prompt = draft.trim();
    if (!prompt || running) return;
    setDraft("");
    change((entries) => [...entries, { kind: "user", id: `user-${crypto.randomUUID()}`, text: prompt }]);
    let outcome = await runOnce(prompt, conversation.threadId);
    if (outcome !== "signed-out" && outcome.kind === "refused" && outcome.status === UNAUTHORIZED) {
      outcome = (await auth.recoverFromUnauthorized()) ? await runOnce(prompt, conversation.threadId) : "signed-out";
    }
    setRunning(undefined);
    if (outcome === "signed-out") {
      onSignedOut(explainStatus(UNAUTHORIZED));
      return;
    }
    if (outcome.kind === "stopped") {
      change((entries) => [...settle(entries), notice("info", "Stopped. The agent discarded this answer.")]);
    } else if (outcome.kind === "refused") {
      change((entries) => [...settle(entries), notice("error", explainStatus(outcome.status))]);
    }
    input.current?.focus();
  };

  const stop = () => running?.stop();

  const startNew = () => {
    running?.stop();
    setConversation(newConversation(identity.username));
    input.current?.focus();
  };

  const signOut = async () => {
    running?.stop();
    forgetConversation();
    const { revoked } = await auth.signOut();
    onSignedOut(revoked ? "You have signed out." : "You have signed out on this page (the sign-in service could not be told).");
  };

  const onKeyDown = (event: KeyboardEvent) => {
    if (event.key === "Enter" && !event.shiftKey) void send(event);
    if (event.key === "Escape" && running) stop();
  };

  return (
    <div class="page chat">
      <header class="bar">
        <h1>Customer support</h1>
        <WhoAmI identity={identity} />
        <nav aria-label="Conversation">
          <button type="button" onClick={startNew}>
            New conversation
          </button>
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        </nav>
      </header>
      <main class="transcript" aria-label="Conversation">
        {conversation.resumed && conversation.entries.length > 0 && (
          <p class="resumed" role="status" data-testid="resumed">
            Resumed your conversation. The agent still remembers it.
          </p>
        )}
        {conversation.entries.length === 0 && <p class="hint">Ask about your orders, warranties, tickets or our products.</p>}
        <ol aria-live="polite" aria-relevant="additions text">
          {conversation.entries.map((entry) => (
            <EntryView key={entry.id} entry={entry} />
          ))}
        </ol>
        <div ref={bottom} />
      </main>
      <form class="composer" onSubmit={send}>
        <label for="prompt" class="visually-hidden">
          Your message
        </label>
        <textarea
          id="prompt"
          ref={input}
          rows={2}
          value={draft}
          placeholder="Type your question. Enter sends, Shift+Enter adds a line, Escape stops."
          onInput={(e) => setDraft(e.currentTarget.value)}
          onKeyDown={onKeyDown}
        />
        {running ? (
          <button type="button" class="stop" onClick={stop} aria-label="Stop the answer">
            Stop
          </button>
        ) : (
          <button type="submit" disabled={!draft.trim()} aria-label="Send message">
            Send
          </button>
        )}
      </form>
    </div>
  );
}
