// The signed-in session: the tokens, their refresh before expiry, and sign-out.
//
// What survives a reload: only the refresh token, in sessionStorage (this tab only; gone when
// the tab closes). The ID and access tokens live in memory and are fetched again with it when
// the page loads, so a reload keeps the user signed in and the conversation resumes, without
// keeping any token that the agent accepts in storage. Keeping nothing would force a new
// password after every reload; localStorage would outlive the tab and leak to other tabs.
// sessionStorage is readable by script on this origin, as memory is: the defence is the page
// itself (no HTML from the model or tools is ever inserted; the deployed page has a strict
// Content-Security-Policy). Sign-out revokes the refresh token at Cognito and forgets it.

import type { PageConfig } from "../config";
import { refreshWithApi, revokeWithApi, signInWithPassword } from "./cognitoApi";
import { completeHostedSignIn, hostedLogout, refreshWithHostedUi, revokeWithHostedUi, startHostedSignIn } from "./hostedUi";
import { identityOf, type Identity, type Tokens } from "./tokens";

const REFRESH_KEY = "support-chat.refresh-token";
/** Refresh this long before the tokens expire. */
const REFRESH_MARGIN_MS = 5 * 60_000;
/** But never sooner than this after the last refresh (short-lived tokens in tests). */
const MIN_REFRESH_DELAY_MS = 5_000;

export type SessionListener = (identity: Identity | undefined) => void;

export class AuthSession {
  private tokens: Tokens | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners = new Set<SessionListener>();

  constructor(private readonly config: PageConfig) {}

  get identity(): Identity | undefined {
    return this.tokens ? identityOf(this.tokens.idToken) : undefined;
  }

  get usesHostedUi(): boolean {
    return this.config.hostedUi !== undefined;
  }

  onChange(listener: SessionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** At page load: the redirect back from managed login, or the tab's refresh token. */
  async restore(): Promise<void> {
    const hosted = this.config.hostedUi;
    if (hosted) {
      const fresh = await completeHostedSignIn(this.config, hosted);
      if (fresh) return this.adopt(fresh);
    }
    const refreshToken = sessionStorage.getItem(REFRESH_KEY);
    if (refreshToken === null) return;
    try {
      this.adopt(await this.refreshed(refreshToken));
    } catch {
      sessionStorage.removeItem(REFRESH_KEY);
    }
  }

  async signInWithPassword(username: string, password: string): Promise<void> {
    this.adopt(await signInWithPassword(this.config, username, password));
  }

  async startHostedSignIn(): Promise<void> {
    const hosted = this.config.hostedUi;
    if (hosted) await startHostedSignIn(this.config, hosted);
  }

  /** The ID token to send as the bearer (the agent takes ID tokens), refreshed if due. */
  async idToken(): Promise<string | undefined> {
    if (this.tokens && Date.now() > this.tokens.expiresAt - MIN_REFRESH_DELAY_MS) {
      await this.refreshNow();
    }
    return this.tokens?.idToken;
  }

  /** After the agent answered 401: one refresh; false when the user must sign in again. */
  async recoverFromUnauthorized(): Promise<boolean> {
    await this.refreshNow();
    return this.tokens !== undefined;
  }

  /** Revokes the refresh token (best effort: the local sign-out happens regardless). */
  async signOut(): Promise<{ revoked: boolean }> {
    const tokens = this.tokens;
    this.forget();
    if (!tokens) return { revoked: true };
    const hosted = this.config.hostedUi;
    let revoked = true;
    try {
      if (hosted) await revokeWithHostedUi(this.config, hosted, tokens.refreshToken);
      else await revokeWithApi(this.config, tokens.refreshToken);
    } catch {
      revoked = false;
    }
    if (hosted) hostedLogout(this.config, hosted);
    return { revoked };
  }

  private refreshed(refreshToken: string): Promise<Tokens> {
    const hosted = this.config.hostedUi;
    return hosted
      ? refreshWithHostedUi(this.config, hosted, refreshToken)
      : refreshWithApi(this.config, refreshToken);
  }

  private async refreshNow(): Promise<void> {
    if (!this.tokens) return;
    try {
      this.adopt(await this.refreshed(this.tokens.refreshToken));
    } catch {
      this.forget();
    }
  }

  private adopt(tokens: Tokens): void {
    this.tokens = tokens;
    sessionStorage.setItem(REFRESH_KEY, tokens.refreshToken);
    clearTimeout(this.timer);
    const delay = Math.max(tokens.expiresAt - Date.now() - REFRESH_MARGIN_MS, MIN_REFRESH_DELAY_MS);
    this.timer = setTimeout(() => void this.refreshNow(), delay);
    this.notify();
  }

  private forget(): void {
    this.tokens = undefined;
    clearTimeout(this.timer);
    sessionStorage.removeItem(REFRESH_KEY);
    this.notify();
  }

  private notify(): void {
    const identity = this.identity;
    for (const listener of this.listeners) listener(identity);
  }
}
