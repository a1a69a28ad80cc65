/** A saved campaign's message as a recipient would get it, on its page: rendered by Herald
 * (`POST /api/campaigns/{id}/preview`) for sample data or a chosen profile, of an A/B variant if
 * it has some. An SMS campaign shows its text on a phone. */
import { Alert, Group, Loader, SegmentedControl, Stack, Text } from "@mantine/core";
import { IconAlertTriangle } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api, call, type Campaign, type Profile, type Schemas } from "../../api/client";
import { errorMessage } from "../../api/errors";
import { keys } from "../../api/queries";
import { RenderedEmail, WidthToggle, type FrameWidth } from "../../components/EmailFrame";
import { Section } from "../../components/Section";
import { DEFAULT_SAMPLE, parseSample } from "../templates/form";
import { ProfilePicker } from "../templates/TemplatePreviewPane";
import { SmsPhonePreview } from "./SmsFields";

type PreviewRequest = Schemas["PreviewRequest"];
type Source = "sample" | "profile";
type VariantKey = NonNullable<PreviewRequest["variant"]>;

/** What to ask for: the sample person of the template editor, or a chosen profile; null while
 * no profile is chosen. */
export function campaignPreviewRequest(
  source: Source,
  profileId: string | null,
  variant: VariantKey | null,
): PreviewRequest | null {
  const request: PreviewRequest = variant ? { variant } : {};
  if (source === "profile") return profileId ? { ...request, profile_id: profileId } : null;
  const sample = parseSample(DEFAULT_SAMPLE);
  return "sample" in sample ? { ...request, sample: sample.sample } : request;
}

export function CampaignPreviewSection({ campaign }: { campaign: Campaign }) {
  if (campaign.channel === "sms") return <SmsPhonePreview body={campaign.sms_body ?? ""} />;
  return <EmailPreview campaign={campaign} />;
}

function EmailPreview({ campaign }: { campaign: Campaign }) {
  const [source, setSource] = useState<Source>("sample");
  const [profile, setProfile] = useState<Profile | null>(null);
  const [width, setWidth] = useState<FrameWidth>("desktop");
  const variants = (campaign.ab_test?.variants ?? []).flatMap((v) => (v.key ? [v.key] : []));
  const [variant, setVariant] = useState<VariantKey | "">("");
  const request = campaignPreviewRequest(source, profile?.id ?? null, variant || null);
  const preview = useQuery({
    queryKey: keys.campaignPreview(campaign.id, JSON.stringify(request), campaign.updated_at),
    queryFn: () =>
      call(
        api.POST("/api/campaigns/{campaign_id}/preview", {
          params: { path: { campaign_id: campaign.id } },
          body: request ?? {},
        }),
      ),
    enabled: request !== null && campaign.template_id !== null,
    retry: false,
    staleTime: 60_000,
  });
  return (
    <Section title="Message preview" actions={<WidthToggle value={width} onChange={setWidth} />}>
      {campaign.template_id === null ? (
        <Text size="sm" c="dimmed" data-testid="campaign-preview-waiting">
          No template is chosen yet: edit the campaign to choose one.
        </Text>
      ) : (
        <Stack gap="sm">
          <Group align="flex-end" gap="sm" wrap="wrap">
            <SegmentedControl<Source>
              size="xs"
              aria-label="Preview for"
              value={source}
              onChange={setSource}
              data={[
                { value: "sample", label: "Sample person" },
                { value: "profile", label: "A profile" },
              ]}
            />
            {source === "profile" && <ProfilePicker value={profile} onChange={setProfile} />}
            {variants.length > 0 && (
              <SegmentedControl<VariantKey | "">
                size="xs"
                aria-label="Variant"
                value={variant}
                onChange={setVariant}
                data={[{ value: "", label: "Campaign" }, ...variants.map((key) => ({ value: key, label: `Variant ${key}` }))]}
              />
            )}
            {preview.isFetching && <Loader size="xs" aria-label="Rendering the preview" />}
          </Group>
          {request === null ? (
            <Text size="sm" c="dimmed" data-testid="campaign-preview-waiting">
              Choose a profile to see the message as they would get it.
            </Text>
          ) : preview.isError ? (
            <Alert color="orange" variant="light" icon={<IconAlertTriangle aria-hidden />} p="xs">
              The preview could not be rendered: {errorMessage(preview.error)}
            </Alert>
          ) : preview.data ? (
            <RenderedEmail
              rendered={preview.data}
              title="Campaign preview"
              width={width}
              subjectTestId="campaign-preview-subject"
              note="Tracking, unsubscribe and preference links are placeholders in the preview."
            />
          ) : (
            <Text size="sm" c="dimmed">
              Rendering the preview…
            </Text>
          )}
        </Stack>
      )}
    </Section>
  );
}
