// Cognito's user-pool JSON API, called directly from the browser for the username/password
// form: InitiateAuth (USER_PASSWORD_AUTH to sign in, REFRESH_TOKEN_AUTH to refresh) and
// RevokeToken at sign-out. These calls need no AWS credentials, only the public app client's
// id. Wire format: JSON 1.1 POSTs with `X-Amz-Target: AWSCognitoIdentityProviderService.<Op>`
// (<https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_InitiateAuth.html>,
// <https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_RevokeToken.html>),
// the same calls agent-cli makes (cli/src/login.rs). Errors answer 400 with `__type`.

import type { PageConfig } from "../config";
import { expiryOf, type Tokens } from "./tokens";

const TIMEOUT_MS = 15_000;

/** A refusal or failure, worded for the user; `code` is Cognito's `__type` when it gave one. */
export class SignInError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

async function call(config: PageConfig, operation: string, body: object): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await fetch(config.cognitoEndpoint, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": `AWSCognitoIdentityProviderService.${operation}`,
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch {
    throw new SignInError("The sign-in service cannot be reached. Check your connection and try again.");
  }
  const answer = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) {
    const type = typeof answer.__type === "string" ? answer.__type.split("#").pop() : undefined;
    throw new SignInError(explain(type), type);
  }
  return answer;
}

function explain(type: string | undefined): string {
  switch (type) {
    case "NotAuthorizedException":
      return "That user name and password do not match, or the sign-in has expired.";
    case "UserNotFoundException":
      return "That user name and password do not match.";
    case "PasswordResetRequiredException":
      return "This account needs a new password before it can sign in.";
    case "UserNotConfirmedException":
      return "This account is not confirmed yet.";
    case "TooManyRequestsException":
    case "LimitExceededException":
      return "Too many attempts. Wait a minute and try again.";
    default:
      return "Sign-in failed. Try again in a moment.";
  }
}

function tokensFrom(answer: Record<string, unknown>, previousRefresh?: string): Tokens {
  const result = answer.AuthenticationResult as Record<string, unknown> | undefined;
  if (result === undefined) {
    const challenge = typeof answer.ChallengeName === "string" ? answer.ChallengeName : "a challenge";
    throw new SignInError(`This account must complete ${challenge} before it can use the chat.`);
  }
  const idToken = result.IdToken;
  const accessToken = result.AccessToken;
  const refreshToken = result.RefreshToken ?? previousRefresh;
  if (typeof idToken !== "string" || typeof accessToken !== "string" || typeof refreshToken !== "string") {
    throw new SignInError("The sign-in service answered without tokens.");
  }
  const expiresIn = typeof result.ExpiresIn === "number" ? result.ExpiresIn : 3600;
  return { idToken, accessToken, refreshToken, expiresAt: expiryOf(idToken, expiresIn) };
}

export async function signInWithPassword(config: PageConfig, username: string, password: string): Promise<Tokens> {
  const answer = await call(config, "InitiateAuth", {
    AuthFlow: "USER_PASSWORD_AUTH",
    ClientId: config.clientId,
    AuthParameters: { USERNAME: username, PASSWORD: password },
  });
  return tokensFrom(answer);
}

/** New ID and access tokens; Cognito keeps the refresh token unless it rotates it. */
export async function refreshWithApi(config: PageConfig, refreshToken: string): Promise<Tokens> {
  const answer = await call(config, "InitiateAuth", {
    AuthFlow: "REFRESH_TOKEN_AUTH",
    ClientId: config.clientId,
    AuthParameters: { REFRESH_TOKEN: refreshToken },
  });
  return tokensFrom(answer, refreshToken);
}

export async function revokeWithApi(config: PageConfig, refreshToken: string): Promise<void> {
  await call(config, "RevokeToken", { Token: refreshToken, ClientId: config.clientId });
}
