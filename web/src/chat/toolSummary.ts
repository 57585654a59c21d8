// A tool call in a few words: the tool's name made readable and its main arguments, so a
// reader sees "Get order · order_id ORD-1001" before opening the raw input and output.

const MAX_VALUE_CHARS = 40;

export function readableName(name: string): string {
  // Gateway tools are `target___tool`; the target is not interesting to a reader.
  const tool = name.includes("___") ? name.slice(name.lastIndexOf("___") + 3) : name;
  const words = tool.replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function argumentSummary(args: string): string {
  let value: unknown;
  try {
    value = JSON.parse(args);
  } catch {
    return "";
  }
  if (typeof value !== "object" || value === null) return "";
  return Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => typeof v === "string" || typeof v === "number" || typeof v === "boolean")
    .slice(0, 3)
    .map(([k, v]) => {
      const text = String(v);
      return `${k} ${text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}…` : text}`;
    })
    .join(", ");
}

/** JSON pretty-printed when it is JSON, else the text as it came. */
export function pretty(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
