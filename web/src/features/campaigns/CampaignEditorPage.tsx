/** Create (/campaigns/new) and edit (/campaigns/:campaignId/edit) a campaign: audience with its
 * live size, template with a live preview, sender, smart sending, send-time optimization,
 * conversions and the A/B test. Only a draft can be changed; other campaigns are shown read-only. */
import {
  Alert,
  Autocomplete,
  Button,
  Fieldset,
  Grid,
  Group,
  MultiSelect,
  NumberInput,
  Paper,
  SegmentedControl,
  Select,
  SimpleGrid,
  Stack,
  Switch,
  Text,
  TextInput,
  Title,
  type ComboboxItem,
} from "@mantine/core";
import { useForm, type UseFormReturnType } from "@mantine/form";
import { notifications } from "@mantine/notifications";
import { IconCopy, IconLock } from "@tabler/icons-react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { api, call, type Campaign, type Segment, type TemplateSummary } from "../../api/client";
import { keys, metricsQuery, campaignQuery, segmentsQuery, templateQuery, templatesQuery } from "../../api/queries";
import { FormErrors } from "../../components/FormErrors";
import { PageBreadcrumbs } from "../../components/PageBreadcrumbs";
import { PageHeader } from "../../components/PageHeader";
import { CreateOrEdit } from "../../components/QueryResult";
import { useApiErrors } from "../../components/useApiErrors";
import { formatCount } from "../../lib/format";
import { toTemplateValues } from "../templates/form";
import { TemplatePreviewPane } from "../templates/TemplatePreviewPane";
import { ABTestFields } from "./ABTestFields";
import { SmsBodyInput, SmsPhonePreview } from "./SmsFields";
import { AudienceSize } from "./AudienceSize";
import { CampaignStatusBadge } from "./CampaignStatusBadge";
import { Section } from "../../components/Section";
import { useDuplicateCampaign } from "./useCampaignActions";
import {
  checkCampaign,
  ERROR_ALIASES,
  ERROR_FIELDS,
  newCampaignValues,
  previewContent,
  toCampaignBody,
  toCampaignValues,
  variantKey,
  type CampaignValues,
  type Channel,
} from "./form";

export function CampaignEditorPage() {
  const { campaignId } = useParams();
  const campaign = useQuery({ ...campaignQuery(campaignId ?? ""), enabled: Boolean(campaignId) });
  return (
    <CreateOrEdit id={campaignId} query={campaign} thing="campaign">
      {(existing) => <CampaignForm campaign={existing} />}
    </CreateOrEdit>
  );
}

export type CampaignForm = UseFormReturnType<CampaignValues>;

/** Segments to choose, each option with its size. */
function SegmentsInput({
  segments,
  loading,
  empty,
  value,
  ...props
}: {
  label: string;
  description: string;
  empty: string;
  segments: readonly Segment[];
  loading: boolean;
  value?: string[];
  onChange: (value: string[]) => void;
  error?: ReactNode;
}) {
  const sizeOf = new Map(segments.map((s) => [s.id, s.member_count]));
  return (
    <MultiSelect
      {...props}
      value={value}
      placeholder={value?.length ? undefined : empty}
      searchable
      data={segments.map((segment) => ({ value: segment.id, label: segment.name }))}
      nothingFoundMessage={loading ? "Loading segments…" : "No segment matches"}
      renderOption={({ option }) => {
        const size = sizeOf.get(option.value) ?? 0;
        return (
          <Group justify="space-between" w="100%" wrap="nowrap">
            <Text size="sm">{option.label}</Text>
            <Text size="xs" c="dimmed">
              {formatCount(size)} {size === 1 ? "member" : "members"}
            </Text>
          </Group>
        );
      }}
    />
  );
}

export function templateOptions(templates: readonly TemplateSummary[]): ComboboxItem[] {
  return templates.map((template) => ({
    value: template.id,
    label: template.kind === "transactional" ? `${template.name} (transactional)` : template.name,
  }));
}

function CampaignForm({ campaign }: { campaign?: Campaign }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const readOnly = campaign !== undefined && campaign.status !== "draft";
  const segments = useQuery(segmentsQuery);
  const templates = useQuery(templatesQuery);
  const metrics = useQuery(metricsQuery);
  const errors = useApiErrors(ERROR_FIELDS, ERROR_ALIASES);
  const form = useForm<CampaignValues>({
    initialValues: campaign ? toCampaignValues(campaign) : newCampaignValues(),
    validate: checkCampaign,
  });
  const values = form.getValues();
  const duplicate = useDuplicateCampaign();

  const save = useMutation({
    mutationFn: (wanted: CampaignValues) => {
      const body = toCampaignBody(wanted);
      return campaign
        ? call(api.PATCH("/api/campaigns/{campaign_id}", { params: { path: { campaign_id: campaign.id } }, body }))
        : call(api.POST("/api/campaigns", { body }));
    },
    onSuccess: (saved) => {
      queryClient.setQueryData(keys.campaign(saved.id), saved);
      void queryClient.invalidateQueries({ queryKey: keys.campaignsAll, exact: true });
      notifications.show({ color: "teal", message: `Campaign “${saved.name}” saved as a draft.` });
      void navigate(`/campaigns/${saved.id}`);
    },
    onError: (error) => errors.show(form, error),
  });

  const segmentList = segments.data?.data ?? [];
  const templateList = templates.data?.data ?? [];
  const chosenTemplate = templateList.find((t) => t.id === values.template_id);
  const title = campaign ? (readOnly ? campaign.name : `Edit ${campaign.name}`) : "New campaign";

  return (
    <>
      <PageBreadcrumbs
        links={[
          { to: "/campaigns", label: "Campaigns" },
          campaign && { to: `/campaigns/${campaign.id}`, label: campaign.name },
        ]}
        current={campaign ? (readOnly ? "Settings" : "Edit") : "New"}
      />
      <PageHeader
        title={title}
        description="Choose who gets it and what they get. A campaign is saved as a draft; send or schedule it from its page."
      />
      {readOnly && campaign && (
        <Alert color="gray" variant="light" icon={<IconLock aria-hidden />} mb="md" title="Read only" data-testid="read-only-note">
          <Stack gap="xs" align="flex-start">
            <Text size="sm">
              This campaign is <CampaignStatusBadge status={campaign.status} />: only a draft can be changed. Duplicate it to
              make a new draft with the same settings.
            </Text>
            <Button
              size="xs"
              variant="default"
              leftSection={<IconCopy size={14} aria-hidden />}
              loading={duplicate.isPending}
              onClick={() => duplicate.mutate(campaign.id)}
            >
              Duplicate
            </Button>
          </Stack>
        </Alert>
      )}
      <Grid gap="lg">
        <Grid.Col span={{ base: 12, lg: 6 }}>
          <form
            noValidate
            aria-label="Campaign"
            onSubmit={form.onSubmit((wanted) => {
              errors.clear();
              save.mutate(wanted);
            })}
          >
            <Fieldset variant="unstyled" disabled={readOnly} p={0} m={0}>
              <Stack gap="md">
                <Paper withBorder p="md">
                  <Stack gap="sm">
                    <TextInput label="Name" required description="Only you see it." {...form.getInputProps("name")} />
                    <div>
                      <Text size="sm" fw={500} mb={4}>
                        Channel
                      </Text>
                      <SegmentedControl
                        aria-label="Channel"
                        data={[
                          { value: "email", label: "Email" },
                          { value: "sms", label: "SMS" },
                        ]}
                        value={values.channel}
                        onChange={(channel) => {
                          form.setFieldValue("channel", channel as Channel);
                          // Each channel's own default window between marketing messages.
                          form.setFieldValue("smart_sending_hours", channel === "sms" ? 24 : 16);
                        }}
                      />
                    </div>
                  </Stack>
                </Paper>
                <Section title="Audience" description="Members of any of the included segments, except members of the excluded ones.">
                  <SegmentsInput
                    label="Send to"
                    description="Segments whose members get the campaign"
                    empty="Choose segments"
                    segments={segmentList}
                    loading={segments.isPending}
                    {...form.getInputProps("include_segment_ids")}
                  />
                  <SegmentsInput
                    label="Leave out"
                    description="Members of these segments do not get it, even when they are in an included one"
                    empty="Optional"
                    segments={segmentList}
                    loading={segments.isPending}
                    {...form.getInputProps("exclude_segment_ids")}
                  />
                  <AudienceSize
                    include={values.include_segment_ids}
                    exclude={values.exclude_segment_ids}
                    smartSending={values.smart_sending}
                    smartSendingHours={values.smart_sending_hours}
                    segments={segmentList}
                    channel={values.channel}
                  />
                </Section>
                {values.channel === "sms" ? (
                  <Section title="Content" description="The text every recipient gets, sent through Twilio (Settings → SMS).">
                    <SmsBodyInput
                      value={values.sms_body}
                      onChange={(body) => form.setFieldValue("sms_body", body)}
                      error={form.errors.sms_body}
                    />
                  </Section>
                ) : (
                <Section title="Content" description="The template, and what the campaign changes in it.">
                  <Select
                    label="Template"
                    placeholder={templates.isPending ? "Loading templates…" : "Choose a template"}
                    searchable
                    data={templateOptions(templateList)}
                    nothingFoundMessage="No template matches"
                    {...form.getInputProps("template_id")}
                    description={
                      <>
                        Write templates under <Link to="/templates">Templates</Link>. Marketing templates carry the
                        unsubscribe link and your postal address.
                      </>
                    }
                  />
                  <TextInput
                    label="Subject"
                    description="Left empty, the template's subject"
                    placeholder={chosenTemplate?.subject ?? "The template's subject"}
                    styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)" } }}
                    {...form.getInputProps("subject")}
                  />
                  <SimpleGrid cols={{ base: 1, sm: 2 }}>
                    <TextInput label="From name" placeholder="The template's or the default" {...form.getInputProps("from_name")} />
                    <TextInput
                      label="From email"
                      type="email"
                      placeholder="The template's or the default"
                      {...form.getInputProps("from_email")}
                    />
                  </SimpleGrid>
                </Section>
                )}
                <Section title="Sending">
                  <Switch
                    label="Smart sending"
                    description={`Skip people who got marketing ${values.channel === "sms" ? "texts" : "email"} from Herald recently`}
                    {...form.getInputProps("smart_sending", { type: "checkbox" })}
                  />
                  {values.smart_sending && (
                    <NumberInput
                      label="Recently means within"
                      suffix=" hours"
                      min={1}
                      max={168}
                      allowDecimal={false}
                      w={220}
                      {...form.getInputProps("smart_sending_hours")}
                    />
                  )}
                  <Switch
                    label="Send-time optimization"
                    description="Send each person at the hour they most often open and click, within 24 hours of the start"
                    {...form.getInputProps("send_time_optimization", { type: "checkbox" })}
                  />
                  <Autocomplete
                    label="Conversion event"
                    description="Counted as a conversion (its value as revenue) when it comes within 5 days of an open or click"
                    data={(metrics.data?.data ?? []).map((m) => m.name)}
                    limit={20}
                    maw={360}
                    {...form.getInputProps("conversion_metric")}
                  />
                </Section>
                <Section
                  title="A/B test"
                  description="Send variants to a test pool first; after the test, the winner goes to everyone else."
                >
                  <Switch label="Test variants" {...form.getInputProps("ab_enabled", { type: "checkbox" })} />
                  {values.ab_enabled && <ABTestFields form={form} templates={templateOptions(templateList)} />}
                </Section>
                <FormErrors messages={errors.other} />
                {!readOnly && (
                  <Group>
                    <Button type="submit" loading={save.isPending}>
                      {campaign ? "Save changes" : "Save draft"}
                    </Button>
                    <Button variant="default" component={Link} to={campaign ? `/campaigns/${campaign.id}` : "/campaigns"}>
                      Cancel
                    </Button>
                  </Group>
                )}
              </Stack>
            </Fieldset>
          </form>
        </Grid.Col>
        <Grid.Col span={{ base: 12, lg: 6 }}>
          {values.channel === "sms" ? <SmsPhonePreview body={values.sms_body} /> : <CampaignPreview values={values} />}
        </Grid.Col>
      </Grid>
    </>
  );
}

/** The chosen template as it will be sent, with the campaign's (or a variant's) subject. */
function CampaignPreview({ values }: { values: CampaignValues }) {
  const [variant, setVariant] = useState<string>("campaign");
  const variantIndex = values.ab_enabled && variant !== "campaign" ? Number(variant) : null;
  const shown = previewContent(values, variantIndex !== null && variantIndex < values.ab.variants.length ? variantIndex : null);
  const template = useQuery({ ...templateQuery(shown.templateId ?? ""), enabled: Boolean(shown.templateId) });
  return (
    <Stack gap="xs">
      {values.ab_enabled && (
        <SegmentedControl
          size="xs"
          aria-label="Preview of"
          value={variantIndex === null ? "campaign" : String(variantIndex)}
          onChange={setVariant}
          data={[
            { value: "campaign", label: "Campaign" },
            ...values.ab.variants.map((_, i) => ({ value: String(i), label: `Variant ${variantKey(i)}` })),
          ]}
        />
      )}
      {!shown.templateId ? (
        <Paper withBorder p="md">
          <Title order={2} fz="h4">
            Preview
          </Title>
          <Text size="sm" c="dimmed" data-testid="preview-waiting">
            Choose a template to see the email.
          </Text>
        </Paper>
      ) : template.data ? (
        <TemplatePreviewPane
          values={{ ...toTemplateValues(template.data), subject: shown.subject ?? template.data.subject }}
        />
      ) : (
        <Paper withBorder p="md">
          <Text size="sm" c="dimmed">
            {template.isError ? "The template could not be loaded." : "Loading the template…"}
          </Text>
        </Paper>
      )}
    </Stack>
  );
}
