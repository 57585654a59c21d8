// Cognito's tokens as the page holds them, and the ID token's claims it shows (who the user
// is, and whom staff act as). The claims are read, not verified: the agent verifies every
// token itself; the page only uses them for display and for timing the refresh.

export interface Tokens {
  idToken: string;
  accessToken: string;
  refreshToken: string;
  /** When the ID and access tokens expire, in ms since the epoch. */
  expiresAt: number;
}

export interface Identity {
  username: string;
  /** `custom:customer_id`: the customer this user is linked to, if any. */
  customerId?: string;
  /** `cognito:groups`. */
  groups: string[];
}

function base64UrlDecode(part: string): string {
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** A JWT's payload, or an empty object when it is not one. */
export function claimsOf(jwt: string): Record<string, unknown> {
  const payload = jwt.split(".")[1];
  if (payload === undefined) return {};
  try {
    const claims: unknown = JSON.parse(base64UrlDecode(payload));
    return typeof claims === "object" && claims !== null ? (claims as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export function identityOf(idToken: string): Identity {
  const claims = claimsOf(idToken);
  const groups = Array.isArray(claims["cognito:groups"])
    ? claims["cognito:groups"].filter((g): g is string => typeof g === "string")
    : [];
  const customerId = claims["custom:customer_id"];
  const username = claims["cognito:username"] ?? claims.email ?? claims.sub;
  return {
    username: typeof username === "string" ? username : "signed-in user",
    customerId: typeof customerId === "string" && customerId !== "" ? customerId : undefined,
    groups,
  };
}

/** The expiry from `expires_in` seconds, capped by the ID token's own `exp`. */
export function expiryOf(idToken: string, expiresInSeconds: number, now = Date.now()): number {
  const fromAnswer = now + expiresInSeconds * 1000;
  const exp = claimsOf(idToken).exp;
  return typeof exp === "number" ? Math.min(fromAnswer, exp * 1000) : fromAnswer;
}
