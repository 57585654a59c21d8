// The page's top level: the configuration (config.ts), the sign-in session (auth/session.ts),
// then either the sign-in form or the chat (ui/Chat.tsx).

import { useEffect, useState } from "preact/hooks";
import { loadConfig, type PageConfig } from "../config";
import { AuthSession } from "../auth/session";
import type { Identity } from "../auth/tokens";
import { Chat } from "./Chat";
import { SignIn } from "./SignIn";

type Loaded = { config: PageConfig; auth: AuthSession };

export function App() {
  const [loaded, setLoaded] = useState<Loaded>();
  const [failure, setFailure] = useState<string>();
  const [identity, setIdentity] = useState<Identity>();
  const [signInMessage, setSignInMessage] = useState<string>();

  useEffect(() => {
    let unsubscribe: (() => void) | undefined;
    loadConfig()
      .then(async (config) => {
        const auth = new AuthSession(config);
        unsubscribe = auth.onChange(setIdentity);
        try {
          await auth.restore();
        } catch (error) {
          setSignInMessage(error instanceof Error ? error.message : String(error));
        }
        setLoaded({ config, auth });
      })
      .catch((error: unknown) => setFailure(error instanceof Error ? error.message : String(error)));
    return () => unsubscribe?.();
  }, []);

  if (failure) {
    return (
      <main class="page centered">
        <p role="alert">The chat cannot start: {failure}</p>
      </main>
    );
  }
  if (!loaded) {
    return (
      <main class="page centered" aria-busy="true">
        <p>Loading…</p>
      </main>
    );
  }
  if (!identity) {
    return <SignIn auth={loaded.auth} message={signInMessage} />;
  }
  return (
    <Chat
      config={loaded.config}
      auth={loaded.auth}
      identity={identity}
      onSignedOut={(message) => setSignInMessage(message)}
    />
  );
}
