// What went wrong, in plain words. Two sources: the HTTP status of a refused run (the agent's
// JSON errors, agent/src/contract/run.rs and inbound-auth: 401 unauthenticated, 403 another
// caller's session, 409 a busy session, 413 too large, 503 too many sessions) and a `RUN_ERROR`'s `code` (the turn's
// `error_type`: Bedrock's error code, `ShuttingDown`, `TurnIncomplete`, ...).

/** The HTTP status of a run refused for its sign-in (expired or revoked token). */
export const UNAUTHORIZED = 401;

export function explainStatus(status: number | undefined): string {
  switch (status) {
    case 401:
      return "Your sign-in has expired. Please sign in again.";
    case 403:
      return "This conversation belongs to another account, so it cannot be shown or continued here. Start a new conversation.";
    case 409:
      return "This conversation is still busy with another message (perhaps in another tab). Wait for it to finish, or start a new conversation.";
    case 413:
      return "That message is too long. Please shorten it.";
    case 429:
    case 503:
      return "The agent is busy right now. Try again in a minute.";
    case undefined:
      return "The agent cannot be reached. Check your connection and try again.";
    default:
      return status >= 500
        ? "The agent had a problem answering. Try again in a moment."
        : "The agent could not accept that message.";
  }
}

const BUSY_CODES = new Set([
  "throttlingexception",
  "servicequotaexceededexception",
  "serviceunavailableexception",
  "modelnotreadyexception",
  "toomanyrequestsexception",
]);

export function explainRunError(code: string | undefined, message: string | undefined): string {
  const normalized = (code ?? "").toLowerCase();
  if (BUSY_CODES.has(normalized)) {
    return "The model is busy (throttled) and the agent gave up retrying. Try again in a minute.";
  }
  if (normalized === "timeout" || normalized === "modeltimeoutexception") {
    return "The model took too long to answer. Try again in a moment.";
  }
  if (normalized === "shuttingdown") {
    return "The agent is restarting. Send your message again in a moment.";
  }
  if (normalized === "turnincomplete") {
    return "The answer stopped before it was finished. Try again.";
  }
  // The agent's own error sentences are short and free of internals (ARCHITECTURE.md).
  return message ? `The agent could not finish: ${message}.` : "The agent could not finish this answer. Try again.";
}

/** A tool result the agent reports as a failure: `{"error": ...}` (tools/aurora, MCP `isError`). */
export function toolFailure(result: string | undefined): string | undefined {
  if (result === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(result);
    if (typeof value === "object" && value !== null && "error" in value) {
      const error = (value as Record<string, unknown>).error;
      return typeof error === "string" ? error : "the tool is unavailable";
    }
  } catch {
    return undefined;
  }
  return undefined;
}
