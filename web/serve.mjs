// A small static server for the built page (dist/), for scripts/run-local and the browser
// tests: GET and HEAD only, files under dist/ only, index.html for unknown paths (the
// managed-login redirect comes back to "/?code=..."). Usage: node serve.mjs <dir> <port> [host]

import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve, sep } from "node:path";

const [root = "dist", portText = "5173", host = "127.0.0.1"] = process.argv.slice(2);
const base = resolve(root);
const types = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".png": "image/png",
  ".svg": "image/svg+xml",
};

async function fileFor(urlPath) {
  const relative = normalize(decodeURIComponent(urlPath)).replace(/^([/\\])+/, "");
  const candidate = resolve(join(base, relative));
  if (candidate !== base && !candidate.startsWith(base + sep)) return undefined;
  try {
    if ((await stat(candidate)).isFile()) return candidate;
  } catch {
    // Not a file: the page itself answers.
  }
  return join(base, "index.html");
}

const server = createServer(async (request, response) => {
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.writeHead(405, { allow: "GET, HEAD" }).end();
    return;
  }
  const path = await fileFor(new URL(request.url ?? "/", "http://page").pathname);
  if (!path) {
    response.writeHead(404).end();
    return;
  }
  try {
    const body = await readFile(path);
    response.writeHead(200, {
      "content-type": types[extname(path)] ?? "application/octet-stream",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    });
    response.end(request.method === "HEAD" ? undefined : body);
  } catch {
    response.writeHead(404).end();
  }
});

server.listen(Number(portText), host, () => {
  const address = server.address();
  console.log(`serving ${base} on http://${host}:${address.port}/`);
});
