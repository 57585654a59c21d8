// Markdown from the model, rendered safely: markdown-it parses it with raw HTML disabled
// (<https://github.com/markdown-it/markdown-it#init-with-presets-and-options>), and its token
// stream becomes Preact elements here. No HTML string is ever inserted into the page, so
// nothing the model or a tool writes can become markup or script. Links keep only http(s) and
// mailto targets and open in a new tab without a referrer; images are shown as links (the page
// loads nothing the model names).

import MarkdownIt from "markdown-it";
import type Token from "markdown-it/lib/token.mjs";
import { h, type ComponentChild } from "preact";

const parser = new MarkdownIt({ html: false, linkify: true, typographer: false });

/** Block and inline tags markdown-it emits that are rendered; any other tag becomes a span. */
const ALLOWED_TAGS = new Set([
  "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre", "code",
  "em", "strong", "s", "a", "table", "thead", "tbody", "tr", "th", "td", "hr", "br",
]);

function safeHref(href: string | null): string | undefined {
  if (href === null) return undefined;
  try {
    const url = new URL(href, window.location.origin);
    return ["http:", "https:", "mailto:"].includes(url.protocol) ? url.toString() : undefined;
  } catch {
    return undefined;
  }
}

interface Frame {
  tag: string;
  props: Record<string, unknown>;
  children: ComponentChild[];
}

function propsOf(token: Token): Record<string, unknown> {
  if (token.tag === "a") {
    const href = safeHref(token.attrGet("href"));
    return href ? { href, target: "_blank", rel: "noopener noreferrer nofollow" } : {};
  }
  if (token.tag === "ol") {
    const start = Number(token.attrGet("start"));
    return Number.isInteger(start) ? { start } : {};
  }
  if (token.tag === "th" || token.tag === "td") {
    const style = token.attrGet("style");
    const align = style?.match(/text-align:(left|right|center)/)?.[1];
    return align ? { style: { textAlign: align } } : {};
  }
  return {};
}

function render(tokens: Token[], key: string): ComponentChild[] {
  const root: Frame = { tag: "", props: {}, children: [] };
  const stack: Frame[] = [root];
  const top = () => stack[stack.length - 1] as Frame;
  tokens.forEach((token, index) => {
    const tag = ALLOWED_TAGS.has(token.tag) ? token.tag : "span";
    if (token.type === "inline") {
      top().children.push(...render(token.children ?? [], `${key}-${index}`));
    } else if (token.nesting === 1) {
      stack.push({ tag, props: { ...propsOf(token), key: `${key}-${index}` }, children: [] });
    } else if (token.nesting === -1) {
      const frame = stack.length > 1 ? (stack.pop() as Frame) : undefined;
      if (frame) top().children.push(h(frame.tag, frame.props, ...frame.children));
    } else if (token.type === "text") {
      top().children.push(token.content);
    } else if (token.type === "code_inline") {
      top().children.push(h("code", { key: `${key}-${index}` }, token.content));
    } else if (token.type === "fence" || token.type === "code_block") {
      top().children.push(h("pre", { key: `${key}-${index}` }, h("code", null, token.content)));
    } else if (token.type === "softbreak") {
      top().children.push("\n");
    } else if (token.type === "hardbreak") {
      top().children.push(h("br", { key: `${key}-${index}` }));
    } else if (token.type === "hr") {
      top().children.push(h("hr", { key: `${key}-${index}` }));
    } else if (token.type === "image") {
      const href = safeHref(token.attrGet("src"));
      const label = token.content || "image";
      top().children.push(href ? h("a", { key: `${key}-${index}`, href, target: "_blank", rel: "noopener noreferrer nofollow" }, label) : label);
    }
  });
  // Unclosed frames (a message still streaming) are closed in order.
  while (stack.length > 1) {
    const frame = stack.pop() as Frame;
    top().children.push(h(frame.tag, frame.props, ...frame.children));
  }
  return root.children;
}

export function Markdown({ text }: { text: string }) {
  return <div class="markdown">{render(parser.parse(text, {}), "md")}</div>;
}
