// The browser chat's entry point: reads /config.json, restores the sign-in, shows the page.
// See ui/App.tsx for how the parts fit.

import { render } from "preact";
import "./style.css";
import { App } from "./ui/App";

const root = document.getElementById("app");
if (root) render(<App />, root);
