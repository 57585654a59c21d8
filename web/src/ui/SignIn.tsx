// Sign-in: the managed login button when config.json names a Hosted UI (deployed use), else
// a username/password form that calls Cognito's InitiateAuth itself (local runs on moto).

import { useState } from "preact/hooks";
import type { AuthSession } from "../auth/session";

export function SignIn({ auth, message }: { auth: AuthSession; message?: string }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | undefined>(message);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      if (auth.usesHostedUi) await auth.startHostedSignIn();
      else await auth.signInWithPassword(username.trim(), password);
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
      setBusy(false);
    }
  };

  return (
    <main class="page centered">
      <form class="sign-in" onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">Customer support</h1>
        <p>Sign in to chat with the support agent.</p>
        {error && (
          <p class="error" role="alert" id="sign-in-error">
            {error}
          </p>
        )}
        {!auth.usesHostedUi && (
          <>
            <label for="username">User name</label>
            <input
              id="username"
              name="username"
              autocomplete="username"
              required
              value={username}
              onInput={(e) => setUsername(e.currentTarget.value)}
            />
            <label for="password">Password</label>
            <input
              id="password"
              name="password"
              type="password"
              autocomplete="current-password"
              required
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          </>
        )}
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
