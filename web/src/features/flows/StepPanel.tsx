/** The side panel of a selected step: its settings, by type, with the API's errors about it. */
import {
  ActionIcon,
  Alert,
  Autocomplete,
  Button,
  Chip,
  Group,
  Modal,
  NumberInput,
  SegmentedControl,
  Select,
  Stack,
  Switch,
  Text,
  Textarea,
  TextInput,
  Title,
} from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { IconEye, IconPlus, IconTrash, IconX } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";
import type { SegmentCatalog, SmsTemplate, TemplateSummary } from "../../api/client";
import { templateQuery } from "../../api/queries";
import { QueryResult } from "../../components/QueryResult";
import { SegmentCounter, SmsBodyInput } from "../campaigns/SmsFields";
import { Choice, EventFilterList } from "../segments/ConditionInputs";
import { MAX_FILTERS } from "../segments/definition";
import { SegmentBuilder, type SegmentOption } from "../segments/SegmentBuilder";
import { toTemplateValues } from "../templates/form";
import { TemplatePreviewPane } from "../templates/TemplatePreviewPane";
import type { StepErrors } from "./errors";
import { changeRows, headerRows, toHeaders, toProfileChanges, type ChangeKind } from "./rows";
import { stepKind } from "./steps";
import { NO_TEMPLATE, type DelayUnit, type Duration, type Step, type StepOf, type Trigger } from "./types";

export const DELAY_UNITS: { value: DelayUnit; label: string }[] = [
  { value: "seconds", label: "seconds" },
  { value: "minutes", label: "minutes" },
  { value: "hours", label: "hours" },
  { value: "days", label: "days" },
  { value: "weeks", label: "weeks" },
];

const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] as const;

/** Where the step editors get what they offer: events, segments, templates, the trigger. */
export interface PanelContext {
  catalog: SegmentCatalog | undefined;
  segments: readonly SegmentOption[];
  templates: readonly TemplateSummary[];
  smsTemplates: readonly SmsTemplate[];
  trigger: Trigger;
}

/** A change to the step; `group` names the input, so that typing in it undoes as one change. */
export type StepChange = (next: Step, group?: string) => void;

export function Problems({ messages }: { messages: readonly string[] }) {
  if (messages.length === 0) return null;
  return (
    <Alert color="red" variant="light" p="xs" role="alert" data-testid="panel-problems">
      <Stack gap={2}>
        {messages.map((message) => (
          <Text key={message} size="sm">
            {message}
          </Text>
        ))}
      </Stack>
    </Alert>
  );
}

export function StepPanel({
  step,
  onChange,
  onDelete,
  errors,
  context,
  readOnly,
}: {
  step: Step;
  onChange: StepChange;
  onDelete: () => void;
  errors: StepErrors | undefined;
  context: PanelContext;
  readOnly: boolean;
}) {
  const kind = stepKind(step.type);
  return (
    <Stack gap="sm" aria-label="Step settings" component="section">
      <Group justify="space-between" wrap="nowrap">
        <div>
          <Title order={2} fz="h4">
            {kind?.label ?? step.type}
          </Title>
          <Text size="xs" c="dimmed">
            {kind?.description} Id: {step.id}
          </Text>
        </div>
        {!readOnly && (
          <ActionIcon variant="subtle" color="red" aria-label="Delete this step" onClick={onDelete}>
            <IconTrash size={16} aria-hidden />
          </ActionIcon>
        )}
      </Group>
      <Problems messages={errors?.messages ?? []} />
      <fieldset disabled={readOnly} style={{ border: 0, padding: 0, margin: 0, minWidth: 0 }}>
        <Stack gap="sm">
          <TextInput
            size="xs"
            label="Label on the canvas"
            placeholder={kind?.label}
            value={step.name ?? ""}
            onChange={(e) => onChange({ ...step, name: e.currentTarget.value || null }, "name")}
          />
          <StepSettings step={step} onChange={onChange} errors={errors} context={context} />
        </Stack>
      </fieldset>
    </Stack>
  );
}

function StepSettings({
  step,
  onChange,
  errors,
  context,
}: {
  step: Step;
  onChange: StepChange;
  errors: StepErrors | undefined;
  context: PanelContext;
}): ReactNode {
  switch (step.type) {
    case "delay":
      return <DelaySettings step={step} onChange={onChange} />;
    case "wait":
      return <WaitSettings step={step} onChange={onChange} context={context} />;
    case "conditional_split":
      return (
        <Stack gap={4}>
          <Text size="sm">Yes when the profile matches these conditions when it reaches this step; no otherwise.</Text>
          <SegmentBuilder
            definition={step.condition}
            onChange={(condition) => onChange({ ...step, condition }, "condition")}
            catalog={context.catalog}
            segments={context.segments}
            errors={errors?.conditions ?? {}}
            scope="flow"
            label="Split conditions"
          />
        </Stack>
      );
    case "trigger_split":
      return (
        <Stack gap={4}>
          <Text size="sm">Yes when the event that started the flow (or the API payload) matches every filter.</Text>
          <EventFilterList
            metric={context.trigger.type === "metric" ? context.trigger.metric : ""}
            filters={step.filters}
            max={MAX_FILTERS}
            intro="Yes when the trigger's"
            onChange={(filters) => onChange({ ...step, filters }, "filters")}
          />
        </Stack>
      );
    case "random_split":
      return <RandomSettings step={step} onChange={onChange} />;
    case "send_email":
      return <EmailSettings step={step} onChange={onChange} templates={context.templates} />;
    case "send_sms":
      return <SmsSettings step={step} onChange={onChange} templates={context.smsTemplates} />;
    case "update_profile":
      return <UpdateSettings step={step} onChange={onChange} />;
    case "webhook":
      return <WebhookSettings step={step} onChange={onChange} />;
    case "exit":
      return <Text size="sm">People who reach this step leave the flow (as "exited at an exit step").</Text>;
  }
}

/** The bin at the end of a row of a list the panel edits (branches, changes, headers). */
function RemoveRow({ label, onClick, disabled }: { label: string; onClick: () => void; disabled?: boolean }) {
  return (
    <ActionIcon variant="subtle" color="red" mb={2} aria-label={label} disabled={disabled} onClick={onClick}>
      <IconX size={14} aria-hidden />
    </ActionIcon>
  );
}

/** The "Add …" under such a list. */
function AddRow({ children, onClick, disabled }: { children: ReactNode; onClick: () => void; disabled?: boolean }) {
  return (
    <Button
      size="compact-xs"
      variant="subtle"
      leftSection={<IconPlus size={12} aria-hidden />}
      disabled={disabled}
      style={{ alignSelf: "flex-start" }}
      onClick={onClick}
    >
      {children}
    </Button>
  );
}

export function DurationInputs({
  label,
  value,
  onChange,
}: {
  label: string;
  value: Duration;
  onChange: (next: Duration) => void;
}) {
  return (
    <Group gap="xs" align="flex-end">
      <NumberInput
        size="xs"
        w={100}
        label={label}
        min={1}
        allowDecimal={false}
        value={value.amount}
        onChange={(next) => onChange({ ...value, amount: typeof next === "number" ? next : 0 })}
      />
      <Choice w={110} label="Unit" data={DELAY_UNITS} value={value.unit ?? "days"} onChange={(unit) => onChange({ ...value, unit })} />
    </Group>
  );
}

function DelaySettings({ step, onChange }: { step: StepOf<"delay">; onChange: StepChange }) {
  const { delay } = step;
  const until = delay.until != null;
  return (
    <Stack gap="xs">
      <SegmentedControl
        size="xs"
        aria-label="Kind of delay"
        value={until ? "until" : "for"}
        onChange={(value) =>
          onChange({
            ...step,
            delay:
              value === "until"
                ? { unit: "days", until: { weekdays: ["monday", "tuesday", "wednesday", "thursday", "friday"], time_of_day: "09:00" } }
                : { amount: 1, unit: "days" },
          })
        }
        data={[
          { value: "for", label: "For a time" },
          { value: "until", label: "Until a day and time" },
        ]}
      />
      {delay.until ? (
        <>
          <Chip.Group
            multiple
            value={delay.until.weekdays}
            onChange={(weekdays) =>
              onChange({ ...step, delay: { unit: "days", until: { ...delay.until!, weekdays: weekdays as (typeof WEEKDAYS)[number][] } } })
            }
          >
            <Group gap={4}>
              {WEEKDAYS.map((day) => (
                <Chip key={day} value={day} size="xs">
                  {day.slice(0, 3)}
                </Chip>
              ))}
            </Group>
          </Chip.Group>
          <TextInput
            size="xs"
            w={120}
            type="time"
            label="At (their time zone)"
            value={delay.until.time_of_day}
            onChange={(e) => onChange({ ...step, delay: { unit: "days", until: { ...delay.until!, time_of_day: e.currentTarget.value } } }, "time")}
          />
        </>
      ) : (
        <DurationInputs
          label="Wait"
          value={{ amount: delay.amount ?? 1, unit: delay.unit ?? "days" }}
          onChange={(next) => onChange({ ...step, delay: { amount: next.amount, unit: next.unit } }, "duration")}
        />
      )}
    </Stack>
  );
}

function WaitSettings({ step, onChange, context }: { step: StepOf<"wait">; onChange: StepChange; context: PanelContext }) {
  const waitFor = step.wait_for;
  return (
    <Stack gap="xs">
      <SegmentedControl
        size="xs"
        aria-label="Wait for"
        value={waitFor.type}
        onChange={(value) =>
          onChange({
            ...step,
            wait_for: value === "event" ? { type: "event", metric: "", filters: [] } : { type: "segment_entered", segment_id: "" },
          })
        }
        data={[
          { value: "event", label: "An event" },
          { value: "segment_entered", label: "Entering a segment" },
        ]}
      />
      {waitFor.type === "event" ? (
        <>
          <Autocomplete
            size="xs"
            label="Event"
            placeholder="Placed Order"
            data={context.catalog?.metrics ?? []}
            value={waitFor.metric}
            onChange={(metric) => onChange({ ...step, wait_for: { ...waitFor, metric } }, "metric")}
          />
          <EventFilterList
            metric={waitFor.metric}
            filters={waitFor.filters ?? []}
            max={MAX_FILTERS}
            onChange={(filters) => onChange({ ...step, wait_for: { ...waitFor, filters } }, "filters")}
          />
        </>
      ) : (
        <Select
          size="xs"
          label="Segment"
          searchable
          data={context.segments.map((s) => ({ value: s.id, label: s.name }))}
          value={waitFor.segment_id || null}
          onChange={(value) => onChange({ ...step, wait_for: { ...waitFor, segment_id: value ?? "" } })}
        />
      )}
      <DurationInputs label="At most" value={step.timeout} onChange={(timeout) => onChange({ ...step, timeout }, "timeout")} />
      <Text size="xs" c="dimmed">
        Output yes when it happens, no when the time runs out.
      </Text>
    </Stack>
  );
}

function RandomSettings({ step, onChange }: { step: StepOf<"random_split">; onChange: StepChange }) {
  const total = step.branches.reduce((sum, b) => sum + (b.weight || 0), 0);
  const setBranch = (index: number, change: Partial<StepOf<"random_split">["branches"][number]>) =>
    onChange({ ...step, branches: step.branches.map((b, i) => (i === index ? { ...b, ...change } : b)) }, `branch-${index}`);
  return (
    <Stack gap="xs">
      {step.branches.map((branch, index) => (
        <Group key={index} gap="xs" align="flex-end" wrap="nowrap">
          <TextInput size="xs" w={110} label="Branch" value={branch.name} onChange={(e) => setBranch(index, { name: e.currentTarget.value })} />
          <NumberInput
            size="xs"
            w={90}
            label="Weight"
            min={1}
            max={1000}
            allowDecimal={false}
            value={branch.weight}
            onChange={(next) => setBranch(index, { weight: typeof next === "number" ? next : 0 })}
          />
          <Text size="xs" c="dimmed" pb={6}>
            {total ? Math.round((100 * branch.weight) / total) : 0}%
          </Text>
          <RemoveRow
            label={`Remove branch ${branch.name}`}
            disabled={step.branches.length <= 2}
            onClick={() => onChange({ ...step, branches: step.branches.filter((_, i) => i !== index) })}
          />
        </Group>
      ))}
      <AddRow
        disabled={step.branches.length >= 7}
        onClick={() => {
          const taken = new Set(step.branches.map((b) => b.name));
          const name = "abcdefg".split("").find((letter) => !taken.has(letter)) ?? `b${step.branches.length + 1}`;
          onChange({ ...step, branches: [...step.branches, { name, weight: 50 }] });
        }}
      >
        Add branch
      </AddRow>
    </Stack>
  );
}

function EmailSettings({
  step,
  onChange,
  templates,
}: {
  step: StepOf<"send_email">;
  onChange: StepChange;
  templates: readonly TemplateSummary[];
}) {
  const email = step.email;
  const set = (change: Partial<typeof email>, group?: string) => onChange({ ...step, email: { ...email, ...change } }, group);
  const [previewing, preview] = useDisclosure(false);
  const chosen = email.template_id !== NO_TEMPLATE ? email.template_id : null;
  return (
    <Stack gap="xs">
      <Group gap="xs" align="flex-end" wrap="nowrap">
        <Select
          size="xs"
          style={{ flex: 1 }}
          label="Template"
          placeholder="Choose a template"
          searchable
          data={templates.map((t) => ({ value: t.id, label: t.name }))}
          value={chosen}
          onChange={(value) => set({ template_id: value ?? NO_TEMPLATE })}
        />
        <Button size="xs" variant="default" leftSection={<IconEye size={14} aria-hidden />} disabled={!chosen} onClick={preview.open}>
          Preview
        </Button>
      </Group>
      <TextInput
        size="xs"
        label="Subject"
        description="Leave empty for the template's own."
        value={email.subject ?? ""}
        onChange={(e) => set({ subject: e.currentTarget.value || null }, "subject")}
      />
      <Group gap="xs" grow>
        <TextInput
          size="xs"
          label="Sender name"
          value={email.from_name ?? ""}
          onChange={(e) => set({ from_name: e.currentTarget.value || null }, "from_name")}
        />
        <TextInput
          size="xs"
          label="Sender address"
          value={email.from_email ?? ""}
          onChange={(e) => set({ from_email: e.currentTarget.value || null }, "from_email")}
        />
      </Group>
      <SmartSending
        what="marketing email"
        settings={email}
        defaultHours={16}
        hoursGroup="hours"
        onChange={set}
      />
      <SendStatus label="Email status" value={email.status} onChange={(status) => set({ status })} />
      {chosen && (
        <Modal opened={previewing} onClose={preview.close} title="Email preview" size="xl">
          <EmailPreview templateId={chosen} subject={email.subject ?? null} />
        </Modal>
      )}
    </Stack>
  );
}

function EmailPreview({ templateId, subject }: { templateId: string; subject: string | null }) {
  const template = useQuery(templateQuery(templateId));
  return (
    <QueryResult query={template} loading="Loading the template…">
      {(data) => {
        const values = toTemplateValues(data);
        return <TemplatePreviewPane values={subject ? { ...values, subject } : values} />;
      }}
    </QueryResult>
  );
}

function SmsSettings({
  step,
  onChange,
  templates,
}: {
  step: StepOf<"send_sms">;
  onChange: StepChange;
  templates: readonly SmsTemplate[];
}) {
  const sms = step.sms;
  const set = (change: Partial<typeof sms>, group?: string) => onChange({ ...step, sms: { ...sms, ...change } }, group);
  const saved = sms.template_id ? templates.find((t) => t.id === sms.template_id) : undefined;
  const source = sms.template_id ? "template" : "text";
  return (
    <Stack gap="xs">
      <SegmentedControl
        size="xs"
        aria-label="SMS text"
        value={source}
        onChange={(value) =>
          value === "template"
            ? set({ template_id: templates[0]?.id ?? NO_TEMPLATE, body: null })
            : set({ template_id: null, body: saved?.body ?? "" })
        }
        data={[
          { value: "text", label: "Write the text" },
          { value: "template", label: "Saved SMS template" },
        ]}
      />
      {source === "text" ? (
        <SmsBodyInput
          value={sms.body ?? ""}
          onChange={(body) => set({ body }, "body")}
          templates={false}
        />
      ) : (
        <Stack gap={4}>
          <Select
            size="xs"
            label="SMS template"
            placeholder="Choose a template"
            description="Settings → SMS templates. The template is sent as it is when the step runs."
            searchable
            allowDeselect={false}
            data={templates.map((t) => ({ value: t.id, label: t.name }))}
            value={saved ? saved.id : null}
            onChange={(value) => set({ template_id: value ?? NO_TEMPLATE })}
          />
          {saved && (
            <>
              <Text size="sm" style={{ whiteSpace: "pre-wrap" }} data-testid="sms-template-text">
                {saved.body}
              </Text>
              <SegmentCounter body={saved.body} />
            </>
          )}
        </Stack>
      )}
      <SmartSending
        what="a marketing SMS"
        settings={sms}
        defaultHours={24}
        hoursGroup="sms-hours"
        onChange={set}
      />
      <Text size="xs" c="dimmed">
        Sent only to people with SMS consent; outside quiet hours in their time zone (the message waits for the morning);
        within the SMS limits of Settings → SMS.
      </Text>
      <SendStatus label="SMS status" value={sms.status} onChange={(status) => set({ status })} />
    </Stack>
  );
}

interface SmartSendingSettings {
  smart_sending?: boolean;
  smart_sending_hours?: number;
}

/** A sending step's smart sending: on by default, skipping (and going on) for people who got
 * `what` in the last hours. Typing in the hours is one undo step (`hoursGroup`). */
function SmartSending({
  what,
  settings,
  defaultHours,
  hoursGroup,
  onChange,
}: {
  what: string;
  settings: SmartSendingSettings;
  defaultHours: number;
  hoursGroup: string;
  onChange: (change: SmartSendingSettings, group?: string) => void;
}) {
  const on = settings.smart_sending ?? true;
  return (
    <Group gap="xs" align="flex-end">
      <Switch
        label="Smart sending"
        description={`Skip (and go on) if they got ${what} recently`}
        checked={on}
        onChange={(e) => onChange({ smart_sending: e.currentTarget.checked })}
      />
      {on && (
        <NumberInput
          size="xs"
          w={90}
          label="Hours"
          min={1}
          max={168}
          allowDecimal={false}
          value={settings.smart_sending_hours ?? defaultHours}
          onChange={(next) =>
            onChange({ smart_sending_hours: typeof next === "number" ? next : defaultHours }, hoursGroup)
          }
        />
      )}
    </Group>
  );
}

/** Live sends; draft records what would have been sent. */
function SendStatus({
  label,
  value,
  onChange,
}: {
  label: string;
  value: "live" | "draft" | undefined;
  onChange: (status: "live" | "draft") => void;
}) {
  return (
    <SegmentedControl
      size="xs"
      aria-label={label}
      value={value ?? "live"}
      onChange={(next) => onChange(next as "live" | "draft")}
      data={[
        { value: "live", label: "Live: sends" },
        { value: "draft", label: "Draft: records only" },
      ]}
    />
  );
}

const CHANGE_KINDS: { value: ChangeKind; label: string }[] = [
  { value: "set", label: "Set" },
  { value: "unset", label: "Unset" },
  { value: "increment", label: "Increment" },
];

function UpdateSettings({ step, onChange }: { step: StepOf<"update_profile">; onChange: StepChange }) {
  const rows = changeRows(step.update);
  const setRows = (next: typeof rows, group?: string) => onChange({ ...step, update: toProfileChanges(next) }, group);
  return (
    <Stack gap="xs">
      {rows.map((row, index) => (
        <Group key={index} gap="xs" align="flex-end" wrap="nowrap">
          <Choice
            w={110}
            label="Change"
            data={CHANGE_KINDS}
            value={row.kind}
            onChange={(kind) => setRows(rows.map((r, i) => (i === index ? { ...r, kind } : r)))}
          />
          <TextInput
            size="xs"
            w={120}
            label="Property"
            value={row.property}
            onChange={(e) => setRows(rows.map((r, i) => (i === index ? { ...r, property: e.currentTarget.value } : r)), `prop-${index}`)}
          />
          {row.kind !== "unset" && (
            <TextInput
              size="xs"
              w={110}
              label={row.kind === "set" ? "To" : "By"}
              value={row.value}
              onChange={(e) => setRows(rows.map((r, i) => (i === index ? { ...r, value: e.currentTarget.value } : r)), `value-${index}`)}
            />
          )}
          <RemoveRow label={`Remove change ${index + 1}`} onClick={() => setRows(rows.filter((_, i) => i !== index))} />
        </Group>
      ))}
      <Text size="xs" c="dimmed">
        true, false, null and numbers are stored as such; anything else as text. Each property once per step.
      </Text>
      <AddRow onClick={() => setRows([...rows, { kind: "set", property: `property_${rows.length + 1}`, value: "" }])}>Add change</AddRow>
    </Stack>
  );
}

function WebhookSettings({ step, onChange }: { step: StepOf<"webhook">; onChange: StepChange }) {
  const webhook = step.webhook;
  const rows = headerRows(webhook.headers);
  const setHeaders = (next: typeof rows, group?: string) => onChange({ ...step, webhook: { ...webhook, headers: toHeaders(next) } }, group);
  return (
    <Stack gap="xs">
      <TextInput
        size="xs"
        label="URL"
        description="http(s) only; private and loopback addresses are refused. Every request is signed (Herald-Signature)."
        value={webhook.url}
        onChange={(e) => onChange({ ...step, webhook: { ...webhook, url: e.currentTarget.value } }, "url")}
      />
      {rows.map((row, index) => (
        <Group key={index} gap="xs" align="flex-end" wrap="nowrap">
          <TextInput
            size="xs"
            w={140}
            label="Header"
            value={row.name}
            onChange={(e) => setHeaders(rows.map((r, i) => (i === index ? { ...r, name: e.currentTarget.value } : r)), `hname-${index}`)}
          />
          <TextInput
            size="xs"
            style={{ flex: 1 }}
            label="Value"
            value={row.value}
            onChange={(e) => setHeaders(rows.map((r, i) => (i === index ? { ...r, value: e.currentTarget.value } : r)), `hvalue-${index}`)}
          />
          <RemoveRow label={`Remove header ${index + 1}`} onClick={() => setHeaders(rows.filter((_, i) => i !== index))} />
        </Group>
      ))}
      <AddRow onClick={() => setHeaders([...rows, { name: `X-Header-${rows.length + 1}`, value: "" }])}>Add header</AddRow>
      <Textarea
        size="xs"
        label="Body (JSON template)"
        description="Rendered with profile, event and flow; empty sends all three."
        autosize
        minRows={3}
        maxRows={12}
        styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)" } }}
        value={webhook.body ?? ""}
        onChange={(e) => onChange({ ...step, webhook: { ...webhook, body: e.currentTarget.value || null } }, "body")}
      />
    </Stack>
  );
}
