// The page's build: Preact's JSX through esbuild, everything bundled into dist/ (nothing is
// loaded from a CDN at run time). dist/config.json is written next to index.html by whoever
// serves the page (scripts/run-local, the deploy command); it is not part of the build.
import { defineConfig } from "vite";

export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
  resolve: {
    alias: { react: "preact/compat", "react-dom": "preact/compat" },
  },
});
