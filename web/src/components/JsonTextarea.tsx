import { Textarea, type TextareaProps } from "@mantine/core";

const STYLES = { input: { fontFamily: "var(--mantine-font-family-monospace)", fontSize: 12 } };

/** A textarea for JSON: monospace, growing with its content, without spell checking. */
export function JsonTextarea({ minRows = 1, maxRows = 10, ...props }: TextareaProps) {
  return <Textarea autosize minRows={minRows} maxRows={maxRows} spellCheck={false} styles={STYLES} {...props} />;
}
