import { Box, SegmentedControl, Stack, Tabs, Text } from "@mantine/core";
import type { ReactNode } from "react";
import { useMemo } from "react";
import { NO_REMOTE_CONTENT, REMOTE_IMAGES, withContentPolicy } from "../lib/emailHtml";

export type FrameWidth = "desktop" | "mobile";
export const FRAME_WIDTHS: Readonly<Record<FrameWidth, number>> = { desktop: 600, mobile: 375 };

/**
 * An email's HTML, shown the way a mail client would and no further: in a sandboxed iframe
 * (scripts never run, the email gets no access to the dashboard), with a content policy that
 * loads remote images only when `remoteImages` is on.
 */
export function EmailFrame({
  html,
  title,
  width = "desktop",
  remoteImages = true,
  height = 640,
}: {
  html: string;
  title: string;
  width?: FrameWidth;
  remoteImages?: boolean;
  height?: number;
}) {
  const srcDoc = useMemo(
    () => withContentPolicy(html, remoteImages ? REMOTE_IMAGES : NO_REMOTE_CONTENT),
    [html, remoteImages],
  );
  return (
    <Box
      style={{
        background: "var(--mantine-color-gray-1)",
        borderRadius: "var(--mantine-radius-sm)",
        padding: 12,
        overflowX: "auto",
      }}
    >
      <iframe
        title={title}
        sandbox="allow-popups allow-popups-to-escape-sandbox"
        referrerPolicy="no-referrer"
        srcDoc={srcDoc}
        data-width={width}
        style={{
          display: "block",
          margin: "0 auto",
          width: FRAME_WIDTHS[width],
          maxWidth: "none",
          height,
          border: "1px solid var(--mantine-color-gray-3)",
          background: "#fff",
        }}
      />
    </Box>
  );
}

export function WidthToggle({ value, onChange }: { value: FrameWidth; onChange: (value: FrameWidth) => void }) {
  return (
    <SegmentedControl<FrameWidth>
      size="xs"
      aria-label="Preview width"
      value={value}
      onChange={onChange}
      data={[
        { value: "desktop", label: `Desktop (${FRAME_WIDTHS.desktop} px)` },
        { value: "mobile", label: `Mobile (${FRAME_WIDTHS.mobile} px)` },
      ]}
    />
  );
}

/** The plain-text part as the recipient's client shows it: text, never HTML. */
export function TextPart({ text }: { text: string | null | undefined }) {
  if (!text) {
    return (
      <Text size="sm" c="dimmed">
        No plain-text part.
      </Text>
    );
  }
  return (
    <Box
      component="pre"
      m={0}
      p="sm"
      fz="sm"
      style={{
        whiteSpace: "pre-wrap",
        overflowWrap: "anywhere",
        background: "var(--mantine-color-gray-0)",
        borderRadius: "var(--mantine-radius-sm)",
        maxHeight: 640,
        overflowY: "auto",
      }}
    >
      {text}
    </Box>
  );
}

/**
 * A rendered message as previews show it: subject and preheader, then the HTML and plain-text
 * parts in tabs, then `note` (what the preview leaves out).
 */
export function RenderedEmail({
  rendered,
  title,
  width,
  subjectTestId,
  note,
}: {
  rendered: { subject: string; preheader?: string | null; html: string; text?: string | null };
  title: string;
  width: FrameWidth;
  subjectTestId: string;
  note: ReactNode;
}) {
  return (
    <Stack gap="xs">
      <div>
        <Text size="xs" c="dimmed">
          Subject
        </Text>
        <Text fw={600} data-testid={subjectTestId} style={{ overflowWrap: "anywhere" }}>
          {rendered.subject || "(no subject)"}
        </Text>
        {rendered.preheader && (
          <Text size="sm" c="dimmed" lineClamp={2}>
            {rendered.preheader}
          </Text>
        )}
      </div>
      <Tabs defaultValue="html" keepMounted={false}>
        <Tabs.List aria-label="Preview parts">
          <Tabs.Tab value="html">HTML</Tabs.Tab>
          <Tabs.Tab value="text">Plain text</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="html" pt="sm">
          <EmailFrame html={rendered.html} title={title} width={width} />
        </Tabs.Panel>
        <Tabs.Panel value="text" pt="sm">
          <TextPart text={rendered.text} />
        </Tabs.Panel>
      </Tabs>
      <Text size="xs" c="dimmed">
        {note}
      </Text>
    </Stack>
  );
}
