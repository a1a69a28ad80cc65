import { Button, CopyButton as MantineCopyButton } from "@mantine/core";
import { IconCheck, IconCopy } from "@tabler/icons-react";

/** Copies `value` to the clipboard; says "Copied" when it did. `description` names what is
 * copied for screen readers when the visible label alone would be ambiguous. */
export function CopyButton({ value, label = "Copy", description }: { value: string; label?: string; description?: string }) {
  return (
    <MantineCopyButton value={value} timeout={2000}>
      {({ copied, copy }) => (
        <Button
          size="xs"
          variant={copied ? "filled" : "light"}
          color={copied ? "teal" : undefined}
          leftSection={copied ? <IconCheck size={14} aria-hidden /> : <IconCopy size={14} aria-hidden />}
          onClick={copy}
          aria-label={description ? (copied ? `Copied ${description}` : `${label} ${description}`) : undefined}
        >
          {copied ? "Copied" : label}
        </Button>
      )}
    </MantineCopyButton>
  );
}
