/** The side panel of the trigger, and of the flow as a whole (nothing selected): who enters,
 * who may enter again, and the filters checked at entry and before every step. */
import { Autocomplete, Code, NumberInput, SegmentedControl, Select, Stack, Switch, Text, TextInput, Title } from "@mantine/core";
import { Choice, EventFilterList } from "../segments/ConditionInputs";
import { emptyDefinition, MAX_FILTERS } from "../segments/definition";
import { SegmentBuilder } from "../segments/SegmentBuilder";
import type { FlowErrors } from "./errors";
import { DurationInputs, Problems, type PanelContext } from "./StepPanel";
import { newTrigger, TRIGGER_TYPES } from "./steps";
import type { FlowDefinition, Reentry, Trigger } from "./types";

export function TriggerPanel({
  trigger,
  onChange,
  errors,
  context,
  readOnly,
  flowId,
}: {
  trigger: Trigger;
  onChange: (next: Trigger, group?: string) => void;
  errors: readonly string[];
  context: PanelContext;
  readOnly: boolean;
  flowId: string;
}) {
  return (
    <Stack gap="sm" component="section" aria-label="Trigger settings">
      <Title order={2} fz="h4">
        Trigger
      </Title>
      <Problems messages={errors} />
      <fieldset disabled={readOnly} style={{ border: 0, padding: 0, margin: 0, minWidth: 0 }}>
        <Stack gap="sm">
          <Choice
            w={260}
            label="Who enters"
            data={TRIGGER_TYPES}
            value={trigger.type}
            onChange={(type) => onChange(newTrigger(type, trigger))}
          />
          <TriggerSettings trigger={trigger} onChange={onChange} context={context} flowId={flowId} />
        </Stack>
      </fieldset>
    </Stack>
  );
}

function TriggerSettings({
  trigger,
  onChange,
  context,
  flowId,
}: {
  trigger: Trigger;
  onChange: (next: Trigger, group?: string) => void;
  context: PanelContext;
  flowId: string;
}) {
  switch (trigger.type) {
    case "metric":
      return (
        <>
          <Autocomplete
            size="xs"
            label="Event"
            placeholder="Started Checkout"
            data={context.catalog?.metrics ?? []}
            value={trigger.metric}
            onChange={(metric) => onChange({ ...trigger, metric }, "metric")}
          />
          <EventFilterList
            metric={trigger.metric}
            filters={trigger.filters ?? []}
            max={MAX_FILTERS}
            intro="Only when the event's"
            addLabel="Add trigger filter"
            onChange={(filters) => onChange({ ...trigger, filters }, "filters")}
          />
          <Text size="xs" c="dimmed">
            Each event enters once, even when it is sent again with the same id.
          </Text>
        </>
      );
    case "segment_entered":
    case "segment_exited":
      return (
        <Select
          size="xs"
          label="Segment"
          placeholder="Choose a segment"
          searchable
          data={context.segments.map((s) => ({ value: s.id, label: s.name }))}
          value={trigger.segment_id || null}
          onChange={(value) => onChange({ ...trigger, segment_id: value ?? "" })}
        />
      );
    case "date_property": {
      const builtIn = trigger.field != null;
      return (
        <>
          <SegmentedControl
            size="xs"
            aria-label="Date from"
            value={builtIn ? "field" : "property"}
            onChange={(value) =>
              onChange(
                value === "field"
                  ? { ...trigger, field: "created_at", property: null }
                  : { ...trigger, field: null, property: "birthday" },
              )
            }
            data={[
              { value: "property", label: "A custom property" },
              { value: "field", label: "When the profile was created" },
            ]}
          />
          {!builtIn && (
            <Autocomplete
              size="xs"
              label="Property holding a date"
              data={(context.catalog?.properties ?? []).filter((p) => p.type === "date").map((p) => p.name)}
              value={trigger.property ?? ""}
              onChange={(property) => onChange({ ...trigger, property }, "property")}
            />
          )}
          <Choice
            w={200}
            label="Recurrence"
            data={[
              { value: "yearly", label: "Every year on its anniversary" },
              { value: "once", label: "Once, on the date" },
            ]}
            value={trigger.recurrence ?? "yearly"}
            onChange={(recurrence) => onChange({ ...trigger, recurrence })}
          />
          <NumberInput
            size="xs"
            w={200}
            label="Days before (−) or after (+)"
            min={-365}
            max={365}
            allowDecimal={false}
            value={trigger.offset_days ?? 0}
            onChange={(next) => onChange({ ...trigger, offset_days: typeof next === "number" ? next : 0 }, "offset")}
          />
          <TextInput
            size="xs"
            w={140}
            type="time"
            label="At (their time zone)"
            value={trigger.time_of_day ?? "09:00"}
            onChange={(e) => onChange({ ...trigger, time_of_day: e.currentTarget.value }, "time")}
          />
        </>
      );
    }
    case "api":
      return (
        <Text size="sm">
          Your code enrols people with <Code>POST /api/flows/{flowId}/enrol</Code> and a body like{" "}
          <Code>{'{"profile": {"email": "…"}, "payload": {…}}'}</Code>; the payload is what trigger splits and
          templates read as the event.
        </Text>
      );
  }
}

const REENTRY_MODES: { value: Reentry["mode"] & string; label: string }[] = [
  { value: "every_time", label: "Every time the trigger fires" },
  { value: "once", label: "Once ever" },
  { value: "once_per_period", label: "At most once per period" },
];

export function FlowSettingsPanel({
  name,
  onName,
  definition,
  onChange,
  errors,
  context,
  readOnly,
}: {
  name: string;
  onName: (name: string) => void;
  definition: FlowDefinition;
  onChange: (next: FlowDefinition, group?: string) => void;
  errors: FlowErrors;
  context: PanelContext;
  readOnly: boolean;
}) {
  const reentry: Reentry = definition.reentry ?? { mode: "every_time" };
  const filtered = definition.filters != null;
  return (
    <Stack gap="sm" component="section" aria-label="Flow settings">
      <Title order={2} fz="h4">
        Flow settings
      </Title>
      <Text size="xs" c="dimmed">
        Select the trigger or a step on the canvas to change it.
      </Text>
      <Problems messages={errors.other} />
      <fieldset disabled={readOnly} style={{ border: 0, padding: 0, margin: 0, minWidth: 0 }}>
        <Stack gap="sm">
          <TextInput size="xs" label="Name" value={name} onChange={(e) => onName(e.currentTarget.value)} />
          <Choice
            w={260}
            label="Re-entry"
            data={REENTRY_MODES}
            value={reentry.mode ?? "every_time"}
            onChange={(mode) =>
              onChange({
                ...definition,
                reentry: mode === "once_per_period" ? { mode, period: { amount: 30, unit: "days" } } : { mode },
              })
            }
          />
          {reentry.mode === "once_per_period" && (
            <DurationInputs
              label="Period"
              value={reentry.period ?? { amount: 30, unit: "days" }}
              onChange={(period) => onChange({ ...definition, reentry: { ...reentry, period } }, "period")}
            />
          )}
          <Problems messages={errors.reentry} />
          <Switch
            label="Flow filters"
            description="Only people who match enter; checked again before every step, and who stops matching leaves."
            checked={filtered}
            onChange={(e) => onChange({ ...definition, filters: e.currentTarget.checked ? emptyDefinition() : null })}
          />
          {definition.filters && (
            <SegmentBuilder
              definition={definition.filters}
              onChange={(filters) => onChange({ ...definition, filters }, "filters")}
              catalog={context.catalog}
              segments={context.segments}
              errors={errors.filters}
              scope="flow"
              label="Flow filters"
            />
          )}
        </Stack>
      </fieldset>
    </Stack>
  );
}
