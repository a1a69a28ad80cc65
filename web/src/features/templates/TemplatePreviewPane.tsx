/** The template as a recipient would get it, rendered by Herald a moment after each change. */
import {
  Alert,
  Anchor,
  Button,
  Group,
  List,
  Loader,
  Paper,
  SegmentedControl,
  Select,
  Stack,
  Text,
  TextInput,
  Title,
} from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useDebouncedValue } from "@mantine/hooks";
import { IconAlertTriangle } from "@tabler/icons-react";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { api, call, type Profile } from "../../api/client";
import { ApiError, errorMessage } from "../../api/errors";
import { keys, profileSearchQuery } from "../../api/queries";
import { RenderedEmail, WidthToggle, type FrameWidth } from "../../components/EmailFrame";
import { JsonTextarea } from "../../components/JsonTextarea";
import { useDebouncedRequest } from "../../components/useDebouncedRequest";
import { profileLabel } from "../../lib/format";
import { DEFAULT_SAMPLE, parseSample, previewRequest, type PreviewRequest, type PreviewSource, type TemplateValues } from "./form";
import { describeProblem, parseProblem } from "./problems";

export const PREVIEW_DELAY_MS = 600;

const FIELD_NAMES: Record<string, string> = {
  body: "Body",
  subject: "Subject",
  preheader: "Preheader",
  text_body: "Plain-text part",
  profile_id: "Profile",
};

export function TemplatePreviewPane({
  values,
  templateId,
  saved = false,
}: {
  values: TemplateValues;
  /** A saved template can be sent as a test; `saved` says whether the form holds what is saved. */
  templateId?: string;
  saved?: boolean;
}) {
  const [sourceKind, setSourceKind] = useState<PreviewSource["kind"]>("sample");
  const [sample, setSample] = useState(DEFAULT_SAMPLE);
  const [profile, setProfile] = useState<Profile | null>(null);
  const [width, setWidth] = useState<FrameWidth>("desktop");
  const source: PreviewSource =
    sourceKind === "sample" ? { kind: "sample", sample } : { kind: "profile", profileId: profile?.id ?? null };
  const wanted = previewRequest(values, source);
  const {
    query: preview,
    current,
    updating,
  } = useDebouncedRequest({
    request: "request" in wanted ? wanted.request : null,
    delay: PREVIEW_DELAY_MS,
    queryKey: keys.templatePreview,
    queryFn: (request: PreviewRequest) => call(api.POST("/api/templates/preview", { body: request })),
    staleTime: 60_000,
  });

  return (
    <Paper withBorder p="md" component="section" aria-labelledby="preview-title" pos="sticky" top={72}>
      <Stack gap="sm">
        <Group justify="space-between">
          <Group gap="xs">
            <Title order={2} fz="h4" id="preview-title">
              Preview
            </Title>
            {updating && <Loader size="xs" aria-label="Updating the preview" />}
          </Group>
          <WidthToggle value={width} onChange={setWidth} />
        </Group>
        <Group align="flex-end" gap="sm" wrap="wrap">
          <SegmentedControl<PreviewSource["kind"]>
            size="xs"
            aria-label="Preview as"
            value={sourceKind}
            onChange={setSourceKind}
            data={[
              { value: "sample", label: "Sample data" },
              { value: "profile", label: "A profile" },
            ]}
          />
          {sourceKind === "profile" && <ProfilePicker value={profile} onChange={setProfile} />}
        </Group>
        {sourceKind === "sample" && (
          <JsonTextarea
            label="Sample data"
            description="JSON with profile, data and event, as a send would carry them."
            minRows={3}
            value={sample}
            onChange={(event) => setSample(event.currentTarget.value)}
          />
        )}
        <div aria-live="polite">
          {"reason" in wanted ? (
            <Text size="sm" c="dimmed" data-testid="preview-waiting">
              {wanted.reason}
            </Text>
          ) : preview.isError && current ? (
            <PreviewProblems error={preview.error} />
          ) : null}
        </div>
        {preview.data && "request" in wanted && (
          <RenderedEmail
            rendered={preview.data}
            title="Email preview"
            width={width}
            subjectTestId="preview-subject"
            note="Unsubscribe and preference links are placeholders in the preview. Scripts never run."
          />
        )}
        {templateId && <TestSend templateId={templateId} saved={saved} sample={sourceKind === "sample" ? sample : null} />}
      </Stack>
    </Paper>
  );
}

function PreviewProblems({ error }: { error: unknown }) {
  const messages =
    error instanceof ApiError && error.fields.length
      ? error.fields.map((f) => {
          const name = FIELD_NAMES[f.field] ?? f.field;
          const text = describeProblem(parseProblem(f.reason));
          return name ? `${name}: ${text}` : text;
        })
      : [errorMessage(error)];
  return (
    <Alert color="orange" variant="light" icon={<IconAlertTriangle aria-hidden />} p="xs" data-testid="preview-error">
      <Text size="sm">The preview cannot be rendered yet:</Text>
      <List size="sm">
        {messages.map((message) => (
          <List.Item key={message}>{message}</List.Item>
        ))}
      </List>
    </Alert>
  );
}

function optionLabel(profile: Profile): string {
  const label = profileLabel(profile);
  return profile.email && label !== profile.email ? `${label} (${profile.email})` : label;
}

/** Searches profiles as you type (email, phone, external id, name). The flow builder's trial
 * uses it too. */
export function ProfilePicker({ value, onChange }: { value: Profile | null; onChange: (profile: Profile | null) => void }) {
  const [search, setSearch] = useState("");
  // Once a profile is chosen the box shows its label; that is not a new search.
  const query = value && search === optionLabel(value) ? "" : search.trim();
  const [debounced] = useDebouncedValue(query, 300);
  const profiles = useQuery(profileSearchQuery(debounced));
  const found = useMemo(() => {
    const list = profiles.data?.data ?? [];
    return value && !list.some((p) => p.id === value.id) ? [value, ...list] : list;
  }, [profiles.data, value]);
  return (
    <Select
      label="Profile"
      placeholder="Search by email or name"
      searchable
      clearable
      w={320}
      size="xs"
      searchValue={search}
      onSearchChange={setSearch}
      filter={({ options }) => options}
      data={found.map((p) => ({ value: p.id, label: optionLabel(p) }))}
      value={value?.id ?? null}
      onChange={(id) => onChange(found.find((p) => p.id === id) ?? null)}
      nothingFoundMessage={profiles.isFetching ? "Searching…" : "No profile matches"}
      error={profiles.isError ? errorMessage(profiles.error) : undefined}
    />
  );
}

/** Sends the saved template to any address now (a transactional message, shown in the Outbox
 * when the provider is the outbox). */
function TestSend({ templateId, saved, sample }: { templateId: string; saved: boolean; sample: string | null }) {
  const [email, setEmail] = useState("");
  const send = useMutation({
    mutationFn: () => {
      const parsed = sample === null ? null : parseSample(sample);
      const data = parsed && "sample" in parsed ? (parsed.sample.data ?? {}) : {};
      return call(
        api.POST("/api/templates/{template_id}/test-send", {
          params: { path: { template_id: templateId } },
          body: { email: email.trim(), data },
        }),
      );
    },
    onSuccess: (result) =>
      notifications.show({
        color: "teal",
        title: "Test email queued",
        message: (
          <>
            Sent to {email.trim()}.{" "}
            {/* Notifications render outside the router: a plain link. */}
            <Anchor href={`/messages/${result.message_id}`} size="sm">
              Follow it
            </Anchor>
          </>
        ),
      }),
  });
  return (
    <form
      aria-label="Test send"
      onSubmit={(event) => {
        event.preventDefault();
        if (email.trim()) send.mutate();
      }}
    >
      <Group align="flex-end" gap="xs" wrap="wrap">
        <TextInput
          label="Send a test to"
          type="email"
          placeholder="you@example.com"
          size="xs"
          w={260}
          value={email}
          onChange={(event) => {
            setEmail(event.currentTarget.value);
            send.reset();
          }}
          error={send.isError ? errorMessage(send.error) : undefined}
          description={saved ? "The saved template, with the sample data's data." : "Save your changes first: the test sends the saved template."}
        />
        <Button type="submit" size="xs" variant="default" loading={send.isPending} disabled={!saved || !email.trim()}>
          Send test
        </Button>
      </Group>
    </form>
  );
}
