/** An SMS campaign's text: the editor with its live segment counter, and a phone-shaped preview. */
import { Box, Paper, Select, Stack, Text, Textarea, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { api, call } from "../../api/client";
import { keys, smsTemplatesQuery } from "../../api/queries";
import { useDebouncedRequest } from "../../components/useDebouncedRequest";

const COUNT_DELAY_MS = 250;

/** How the API counts the text: GSM-7 or UCS-2, characters and segments (billed parts). */
export function SegmentCounter({ body }: { body: string }) {
  const count = useDebouncedRequest({
    request: body ? { body } : null,
    delay: COUNT_DELAY_MS,
    queryKey: keys.smsSegments,
    queryFn: (request: { body: string }) => call(api.POST("/api/sms/segments", { body: request })),
    staleTime: Infinity,
  });
  const info = count.query.data;
  if (!body || !info) {
    return (
      <Text size="xs" c="dimmed" data-testid="sms-segments">
        0 characters
      </Text>
    );
  }
  return (
    <Text size="xs" c="dimmed" data-testid="sms-segments" aria-live="polite">
      {info.characters} characters · {info.segments} {info.segments === 1 ? "segment" : "segments"} ({info.encoding}
      , {info.remaining} left in this one)
      {info.non_gsm.length > 0 && <> · not in GSM-7: {info.non_gsm.join(" ")}</>}
    </Text>
  );
}

/** Copies a saved SMS template's text into the editor (Settings → SMS templates). */
function StartFromTemplate({ onChoose }: { onChoose: (body: string) => void }) {
  const templates = useQuery(smsTemplatesQuery);
  const list = templates.data?.data ?? [];
  if (list.length === 0) return null;
  return (
    <Select
      size="xs"
      label="Start from a saved SMS template"
      placeholder="Choose a template"
      searchable
      value={null}
      data={list.map((t) => ({ value: t.id, label: t.name }))}
      onChange={(id) => {
        const chosen = list.find((t) => t.id === id);
        if (chosen) onChoose(chosen.body);
      }}
    />
  );
}

export function SmsBodyInput(props: {
  value: string;
  onChange: (value: string) => void;
  error?: ReactNode;
  /** Offer the saved SMS templates to start from (the template editor itself does not). */
  templates?: boolean;
  label?: string;
}) {
  return (
    <Stack gap={4}>
      {(props.templates ?? true) && <StartFromTemplate onChoose={props.onChange} />}
      <Textarea
        label={props.label ?? "Text"}
        required
        autosize
        minRows={3}
        description="Personalize as in templates: {{ profile.first_name }}. Links become short tracked links; “Reply STOP to opt out.” is added unless the text says how to stop."
        value={props.value}
        error={props.error}
        onChange={(event) => props.onChange(event.currentTarget.value)}
        styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)" } }}
      />
      <SegmentCounter body={props.value} />
    </Stack>
  );
}

/** The text in a phone-shaped frame, as written (personalization is filled in when sent). */
export function SmsPhonePreview({ body }: { body: string }) {
  return (
    <Paper withBorder p="md">
      <Stack gap="sm">
        <Title order={2} fz="h4">
          Preview
        </Title>
        <Box
          aria-label="Phone preview"
          role="figure"
          mx="auto"
          w={280}
          p="md"
          pt="xl"
          style={{ border: "10px solid #222", borderRadius: 36, minHeight: 420, background: "#f8f9fa" }}
        >
          {body ? (
            <Box
              p="sm"
              style={{ background: "#e9ecef", borderRadius: 16, whiteSpace: "pre-wrap", wordBreak: "break-word" }}
            >
              <Text size="sm">{body}</Text>
            </Box>
          ) : (
            <Text size="sm" c="dimmed" ta="center">
              Write the text to see it here.
            </Text>
          )}
        </Box>
      </Stack>
    </Paper>
  );
}
