// The page's runtime configuration: /config.json next to index.html, written by whoever
// serves the page (scripts/run-local for the local stack, the deploy command for S3). The
// build itself holds no endpoint, so one build serves every environment.

/** Cognito's managed login (Hosted UI), for the authorization-code flow with PKCE. */
export interface HostedUi {
  /** `https://<prefix>.auth.<region>.amazoncognito.com`, without a trailing slash. */
  domain: string;
  redirectUri: string;
  logoutUri: string;
}

export interface PageConfig {
  /** The agent's `/invocations` URL (local agent, or the runtime's data-plane URL). */
  agentUrl: string;
  region: string;
  userPoolId: string;
  clientId: string;
  /** Cognito's JSON API; `https://cognito-idp.<region>.amazonaws.com/` when not given. */
  cognitoEndpoint: string;
  /** Present for deployed use; without it the page shows a username/password form. */
  hostedUi?: HostedUi;
}

function text(value: unknown, name: string): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new Error(`config.json: "${name}" must be a non-empty string`);
  }
  return value.trim();
}

/** `value` as read from config.json, checked; what is wrong is named in the error. */
export function parseConfig(value: unknown): PageConfig {
  if (typeof value !== "object" || value === null) {
    throw new Error("config.json must hold a JSON object");
  }
  const raw = value as Record<string, unknown>;
  const region = text(raw.region, "region");
  const config: PageConfig = {
    agentUrl: text(raw.agentUrl, "agentUrl"),
    region,
    userPoolId: text(raw.userPoolId, "userPoolId"),
    clientId: text(raw.clientId, "clientId"),
    cognitoEndpoint:
      raw.cognitoEndpoint === undefined || raw.cognitoEndpoint === null
        ? `https://cognito-idp.${region}.amazonaws.com/`
        : text(raw.cognitoEndpoint, "cognitoEndpoint"),
  };
  if (raw.hostedUi !== undefined && raw.hostedUi !== null) {
    const hosted = raw.hostedUi as Record<string, unknown>;
    config.hostedUi = {
      domain: text(hosted.domain, "hostedUi.domain").replace(/\/+$/, ""),
      redirectUri: text(hosted.redirectUri, "hostedUi.redirectUri"),
      logoutUri: text(hosted.logoutUri, "hostedUi.logoutUri"),
    };
  }
  return config;
}

/** Reads /config.json (never cached: it changes without a rebuild). */
export async function loadConfig(): Promise<PageConfig> {
  const response = await fetch("/config.json", {
    cache: "no-store",
    signal: AbortSignal.timeout(10_000),
  });
  if (!response.ok) {
    throw new Error(`config.json: HTTP ${response.status}`);
  }
  return parseConfig(await response.json());
}
