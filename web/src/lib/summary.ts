/** `product: Green tea · price: 12.5 · items: [{"sku":"TEA-1"}]` for an event's properties. */
export function summarizeProperties(properties: Record<string, unknown>, maxLength = 240): string {
  const parts = Object.entries(properties).map(
    ([name, value]) => `${name}: ${typeof value === "string" ? value : JSON.stringify(value)}`,
  );
  const text = parts.join(" · ");
  return text.length > maxLength ? `${text.slice(0, maxLength - 1)}…` : text;
}
