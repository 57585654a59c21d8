// The web chat in a real browser (Debian's Chromium through playwright-core), run by
// tests/tests/web_chat.rs against the real agent, MCP server and moto's Cognito. One scenario,
// each step printed as a JSON line and screenshotted; the first failed expectation prints
// {"error"} and exits 1. Settings come as JSON in WEB_CHAT_SETTINGS:
// {scenario: "customer" | "staff", pageUrl, password, screenshots, and the scenario's users}.

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const settings = JSON.parse(process.env.WEB_CHAT_SETTINGS ?? "{}");
const WAIT = { timeout: 30_000 };
mkdirSync(settings.screenshots, { recursive: true });

function report(step, details = {}) {
  console.log(JSON.stringify({ step, ...details }));
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

async function shot(page, name) {
  const path = join(settings.screenshots, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

async function signIn(page, username) {
  await page.goto(settings.pageUrl);
  await page.getByLabel("User name").fill(username);
  await page.getByLabel("Password").fill(settings.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("who-am-i").waitFor(WAIT);
}

async function ask(page, text) {
  await page.getByLabel("Your message").fill(text);
  await page.getByLabel("Your message").press("Enter");
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
});
// A customer: sign-in, a tool-using streamed answer, Stop, reload, another customer refused,
// sign-out.
async function customerScenario() {
  const first = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await first.newPage();
  const consoleErrors = [];
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
  page.on("console", (message) => console.error(`page console: ${message.type()}: ${message.text()}`));
  const cognitoTargets = [];
  page.on("request", (request) => {
    const target = request.headers()["x-amz-target"];
    if (target) cognitoTargets.push(target);
  });

  await page.goto(settings.pageUrl);
  await page.getByRole("button", { name: "Sign in" }).waitFor(WAIT);
  report("sign-in-form", { screenshot: await shot(page, "01-sign-in") });

  await signIn(page, settings.customer.username);
  const who = await page.getByTestId("who-am-i").innerText();
  expect(who.includes(settings.customer.username) && who.includes(settings.customer.customerId), `who-am-i: ${who}`);
  report("signed-in", { who, screenshot: await shot(page, "02-signed-in") });

  // A tool-using answer: the tool call appears, then the text streams in pieces.
  await ask(page, "What tickets do I have?");
  const tool = page.getByTestId("tool-call").first();
  await tool.waitFor(WAIT);
  const streaming = page.locator('[data-testid="assistant-message"][aria-busy="true"]').last();
  await streaming.waitFor(WAIT);
  const partial = await streaming.innerText();
  await page.locator('[data-testid="assistant-message"][aria-busy="false"]').filter({ hasText: settings.customer.finalAnswer }).waitFor(WAIT);
  await page.getByRole("button", { name: "Send message" }).waitFor(WAIT);
  const toolSummary = await tool.locator("summary").innerText();
  await tool.locator("summary").click();
  const toolDetails = await tool.innerText();
  const bold = await page.locator(".markdown strong").filter({ hasText: settings.customer.boldWord }).count();
  expect(toolSummary.includes("List customer tickets") && toolSummary.includes("done"), `tool summary: ${toolSummary}`);
  expect(toolDetails.includes("Input") && toolDetails.includes("Output") && toolDetails.includes(settings.customer.customerId), `tool details: ${toolDetails}`);
  expect(bold === 1, "the answer's Markdown is rendered (bold)");
  const injected = await page.locator(".markdown img, .markdown script, .markdown b").count();
  expect(injected === 0, "HTML in the answer stayed text");
  report("answered", { partial, toolSummary, screenshot: await shot(page, "03-answered-with-tool") });

  // A slow answer, stopped half-way.
  await ask(page, "Tell me a long story.");
  await page.locator('[data-testid="assistant-message"][aria-busy="true"]').last().filter({ hasText: /\S/ }).waitFor(WAIT);
  await page.getByRole("button", { name: "Stop the answer" }).click();
  await page.getByTestId("notice-info").filter({ hasText: "Stopped" }).waitFor(WAIT);
  report("stopped", { screenshot: await shot(page, "04-stopped") });

  // A reload resumes the conversation from this tab's storage.
  const threadId = await page.evaluate(() => JSON.parse(sessionStorage.getItem("support-chat.conversation")).threadId);
  await page.reload();
  await page.getByTestId("resumed").waitFor(WAIT);
  const resumedText = await page.locator(".transcript").innerText();
  expect(resumedText.includes(settings.customer.finalAnswer.slice(0, 20)), "the transcript survives a reload");
  report("resumed", { threadId, screenshot: await shot(page, "05-resumed") });

  // Another customer, in another browser (context), on a phone, forced onto the first
  // customer's thread: the agent refuses it and nothing of the first conversation shows.
  const second = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await second.addInitScript(
    ([thread, owner]) => {
      if (!sessionStorage.getItem("support-chat.conversation")) {
        sessionStorage.setItem("support-chat.conversation", JSON.stringify({ threadId: thread, owner, entries: [] }));
      }
    },
    [threadId, settings.otherCustomer.username],
  );
  const other = await second.newPage();
  await signIn(other, settings.otherCustomer.username);
  const otherWho = await other.getByTestId("who-am-i").innerText();
  expect(otherWho.includes(settings.otherCustomer.customerId), `second who-am-i: ${otherWho}`);
  await ask(other, "What did we talk about?");
  const refusal = other.getByTestId("notice-error");
  await refusal.waitFor(WAIT);
  const refusalText = await refusal.innerText();
  const otherText = await other.locator("body").innerText();
  expect(refusalText.includes("belongs to another account"), `refusal: ${refusalText}`);
  expect(!otherText.includes(settings.customer.finalAnswer.slice(0, 20)) && !otherText.includes("List customer tickets"), "no transcript leak");
  report("other-customer-refused", { refusalText, screenshot: await shot(other, "06-other-customer-refused-phone") });
  await second.close();

  // Sign-out: back to the form, the refresh token revoked at Cognito and forgotten.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor(WAIT);
  const stored = await page.evaluate(() => Object.keys(sessionStorage));
  expect(cognitoTargets.includes("AWSCognitoIdentityProviderService.RevokeToken"), `no RevokeToken call: ${cognitoTargets}`);
  expect(!stored.includes("support-chat.refresh-token") && !stored.includes("support-chat.conversation"), `left in storage: ${stored}`);
  report("signed-out", { cognitoTargets, screenshot: await shot(page, "07-signed-out") });
  expect(consoleErrors.length === 0, `page errors: ${consoleErrors}`);
}

// Staff: who they act as, a failed tool, a retried model call, a busy conversation, and
// throttling that outlasts the retries, each explained in plain words.
async function staffScenario() {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  await signIn(page, settings.staff.username);
  const who = await page.getByTestId("who-am-i").innerText();
  expect(who.includes(settings.staff.username) && who.includes("staff"), `who-am-i: ${who}`);
  report("staff-signed-in", { who, screenshot: await shot(page, "11-staff-signed-in") });

  await ask(page, "What is in ticket TKT-9999?");
  const tool = page.getByTestId("tool-call").first();
  await tool.filter({ hasText: "failed" }).waitFor(WAIT);
  await page.getByRole("button", { name: "Send message" }).waitFor(WAIT);
  await tool.locator("summary").click();
  const toolText = await tool.innerText();
  expect(toolText.includes("The tool could not answer"), `tool failure: ${toolText}`);
  report("tool-failed", { toolText, screenshot: await shot(page, "12-tool-failed") });

  await ask(page, "Hello?");
  const retry = page.getByTestId("notice-info").filter({ hasText: "asking again" });
  await retry.waitFor(WAIT);
  await page.locator('[data-testid="assistant-message"]').filter({ hasText: settings.staff.retriedAnswer }).waitFor(WAIT);
  await page.getByRole("button", { name: "Send message" }).waitFor(WAIT);
  const transcript = await page.locator(".transcript").innerText();
  expect(!transcript.includes(settings.staff.partialText), "the discarded partial answer is gone");
  report("retried", { retry: await retry.innerText(), screenshot: await shot(page, "13-model-retry") });

  // A second tab on the same conversation while the first is answering.
  const threadId = await page.evaluate(() => JSON.parse(sessionStorage.getItem("support-chat.conversation")).threadId);
  await ask(page, "Take your time.");
  await page.getByRole("button", { name: "Stop the answer" }).waitFor(WAIT);
  const tab = await context.newPage();
  await tab.addInitScript(
    ([thread, owner]) => {
      if (!sessionStorage.getItem("support-chat.conversation")) {
        sessionStorage.setItem("support-chat.conversation", JSON.stringify({ threadId: thread, owner, entries: [] }));
      }
    },
    [threadId, settings.staff.username],
  );
  await signIn(tab, settings.staff.username);
  await ask(tab, "Are you there?");
  const busy = tab.getByTestId("notice-error");
  await busy.waitFor(WAIT);
  const busyText = await busy.innerText();
  expect(busyText.includes("still busy"), `busy: ${busyText}`);
  report("busy", { busyText, screenshot: await shot(tab, "14-conversation-busy") });
  await tab.close();
  await page.getByRole("button", { name: "Send message" }).waitFor({ timeout: 60_000 });

  await ask(page, "And now?");
  const throttled = page.getByTestId("notice-error").filter({ hasText: "throttled" });
  await throttled.waitFor({ timeout: 60_000 });
  report("throttled", { text: await throttled.innerText(), screenshot: await shot(page, "15-throttled") });
  await context.close();
}

try {
  if (settings.scenario === "staff") await staffScenario();
  else await customerScenario();
  report("done");
} catch (error) {
  for (const [index, context] of browser.contexts().entries()) {
    for (const [n, open] of context.pages().entries()) await shot(open, `failed-${index}-${n}`).catch(() => undefined);
  }
  console.log(JSON.stringify({ error: String(error?.stack ?? error) }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
