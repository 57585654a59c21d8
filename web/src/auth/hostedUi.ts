// Cognito's managed login (Hosted UI) for deployed use: the OAuth 2.0 authorization-code flow
// with PKCE (RFC 7636) for a public client without a secret.
// - /oauth2/authorize: `response_type=code`, `client_id`, `redirect_uri`, `scope`, `state`,
//   `code_challenge_method=S256`, `code_challenge`
//   (<https://docs.aws.amazon.com/cognito/latest/developerguide/authorization-endpoint.html>).
// - /oauth2/token: form-encoded `grant_type=authorization_code` with `code_verifier`, and
//   `grant_type=refresh_token` to refresh
//   (<https://docs.aws.amazon.com/cognito/latest/developerguide/token-endpoint.html>).
// - /oauth2/revoke: form-encoded `token` and `client_id`
//   (<https://docs.aws.amazon.com/cognito/latest/developerguide/revocation-endpoint.html>).
// - /logout: `client_id` and `logout_uri`, ending the managed-login session as well
//   (<https://docs.aws.amazon.com/cognito/latest/developerguide/logout-endpoint.html>).
// The verifier and state live in sessionStorage only between the redirect out and back.

import type { HostedUi, PageConfig } from "../config";
import { SignInError } from "./cognitoApi";
import { expiryOf, type Tokens } from "./tokens";

const PENDING_KEY = "support-chat.pkce";
const TIMEOUT_MS = 15_000;

function randomUrlSafe(bytes: number): string {
  const data = crypto.getRandomValues(new Uint8Array(bytes));
  return base64Url(data);
}

function base64Url(data: Uint8Array): string {
  let binary = "";
  for (const byte of data) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64Url(new Uint8Array(digest));
}

/** Sends the browser to the managed login page. */
export async function startHostedSignIn(config: PageConfig, hosted: HostedUi): Promise<void> {
  const verifier = randomUrlSafe(48);
  const state = randomUrlSafe(24);
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state }));
  const url = new URL(`${hosted.domain}/oauth2/authorize`);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: config.clientId,
    redirect_uri: hosted.redirectUri,
    scope: "openid email profile",
    state,
    code_challenge_method: "S256",
    code_challenge: await challengeOf(verifier),
  }).toString();
  window.location.assign(url.toString());
}

async function tokenCall(hosted: HostedUi, form: Record<string, string>): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await fetch(`${hosted.domain}/oauth2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form).toString(),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch {
    throw new SignInError("The sign-in service cannot be reached. Check your connection and try again.");
  }
  const answer = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) {
    throw new SignInError("Your sign-in has expired. Please sign in again.", String(answer.error ?? response.status));
  }
  return answer;
}

function tokensFrom(answer: Record<string, unknown>, previousRefresh?: string): Tokens {
  const { id_token: idToken, access_token: accessToken } = answer;
  const refreshToken = answer.refresh_token ?? previousRefresh;
  if (typeof idToken !== "string" || typeof accessToken !== "string" || typeof refreshToken !== "string") {
    throw new SignInError("The sign-in service answered without tokens.");
  }
  const expiresIn = typeof answer.expires_in === "number" ? answer.expires_in : 3600;
  return { idToken, accessToken, refreshToken, expiresAt: expiryOf(idToken, expiresIn) };
}

/**
 * The tokens when this page load is the redirect back from managed login (`?code=&state=`),
 * else `undefined`. The code is removed from the address bar either way.
 */
export async function completeHostedSignIn(config: PageConfig, hosted: HostedUi): Promise<Tokens | undefined> {
  const params = new URLSearchParams(window.location.search);
  const code = params.get("code");
  const error = params.get("error");
  if (code === null && error === null) return undefined;
  window.history.replaceState(null, "", window.location.pathname);
  const pending = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  if (error !== null) throw new SignInError("Sign-in was cancelled or refused.", error);
  const { verifier, state } = (pending ? JSON.parse(pending) : {}) as { verifier?: string; state?: string };
  if (verifier === undefined || state !== params.get("state")) {
    throw new SignInError("That sign-in did not start on this page. Please sign in again.");
  }
  return tokensFrom(
    await tokenCall(hosted, {
      grant_type: "authorization_code",
      client_id: config.clientId,
      code: code ?? "",
      redirect_uri: hosted.redirectUri,
      code_verifier: verifier,
    }),
  );
}

export async function refreshWithHostedUi(config: PageConfig, hosted: HostedUi, refreshToken: string): Promise<Tokens> {
  return tokensFrom(
    await tokenCall(hosted, { grant_type: "refresh_token", client_id: config.clientId, refresh_token: refreshToken }),
    refreshToken,
  );
}

export async function revokeWithHostedUi(config: PageConfig, hosted: HostedUi, refreshToken: string): Promise<void> {
  const response = await fetch(`${hosted.domain}/oauth2/revoke`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: refreshToken, client_id: config.clientId }).toString(),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  if (!response.ok) throw new SignInError("The sign-in service did not confirm the sign-out.");
}

/** Ends the managed-login session too, so the next sign-in asks for the password again. */
export function hostedLogout(config: PageConfig, hosted: HostedUi): void {
  const url = new URL(`${hosted.domain}/logout`);
  url.search = new URLSearchParams({ client_id: config.clientId, logout_uri: hosted.logoutUri }).toString();
  window.location.assign(url.toString());
}
