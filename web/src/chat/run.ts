// One run of the agent over AG-UI: `@ag-ui/client`'s HttpAgent POSTs a `RunAgentInput` to
// the agent's `/invocations` and reads the SSE answer (README "Two ways to ask"). Only the new
// user message is sent: the agent keeps the conversation under the thread id itself and reads
// only the last message (contract/agui/mod.rs). The ID token is the bearer (the agent runs with
// AUTH_TOKEN_USE=id); the thread id also goes in AgentCore's session header, which a runtime
// requires. Stop aborts the fetch: the agent sees the client go and aborts the turn.

import { HttpAgent } from "@ag-ui/client";
import type { AguiEvent } from "./transcript";

const SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id";

export interface RunRequest {
  agentUrl: string;
  idToken: string;
  threadId: string;
  prompt: string;
  onEvent: (event: AguiEvent) => void;
}

/** How a run ended. `status` is the HTTP status of a refused run. */
export type RunOutcome =
  | { kind: "finished" }
  | { kind: "stopped" }
  | { kind: "refused"; status: number | undefined };

export class AgentRun {
  private readonly agent: HttpAgent;
  private stopped = false;

  constructor(private readonly request: RunRequest) {
    this.agent = new HttpAgent({
      url: request.agentUrl,
      threadId: request.threadId,
      headers: {
        Authorization: `Bearer ${request.idToken}`,
        [SESSION_HEADER]: request.threadId,
      },
    });
  }

  async run(): Promise<RunOutcome> {
    const runId = crypto.randomUUID();
    this.agent.setMessages([{ id: `${runId}-user`, role: "user", content: this.request.prompt }]);
    try {
      await this.agent.runAgent(
        { runId },
        {
          onEvent: ({ event }) => {
            // After Stop the client reports its own abort as a RUN_ERROR; the page says
            // "Stopped" instead.
            if (this.stopped) return;
            this.request.onEvent(event as unknown as AguiEvent);
          },
        },
      );
    } catch (error) {
      if (this.stopped) return { kind: "stopped" };
      const status = (error as { status?: unknown }).status;
      return { kind: "refused", status: typeof status === "number" ? status : undefined };
    }
    return this.stopped ? { kind: "stopped" } : { kind: "finished" };
  }

  stop(): void {
    this.stopped = true;
    this.agent.abortRun();
  }
}
