/** The inputs conditions are made of, shared by the segment builder and the flow builder: an
 * operator with its operands, and the property filters of an event (a segment's event condition,
 * a flow's metric trigger, wait step and trigger split). */
import { ActionIcon, Autocomplete, Button, Group, NumberInput, Select, Stack, TagsInput, Text, TextInput } from "@mantine/core";
import { IconPlus, IconX } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { useDebouncedValue } from "@mantine/hooks";
import { eventPropertyCatalogQuery, propertyValuesQuery, type ValueSubject } from "../../api/queries";

const SUGGEST_DELAY_MS = 200;
import {
  dayOf,
  listValues,
  operatorLabel,
  operatorsFor,
  predicateType,
  TIME_UNITS,
  VALUE_TYPES,
  valueInput,
  withOperator,
  withValueType,
  type EventFilter,
  type Predicate,
  type Scalar,
  type ValueType,
} from "./definition";

/** The operator and the operand inputs of a profile condition or an event filter. */
export function PredicateInputs<P extends Predicate>({
  predicate,
  type,
  onChange,
  suggest,
}: {
  predicate: P;
  type: ValueType;
  onChange: (next: P) => void;
  /** A profile field or property whose recent values a text value suggests. */
  suggest?: ValueSubject;
}) {
  const input = valueInput(type, predicate.operator);
  const set = (change: Partial<Predicate>) => onChange({ ...predicate, ...change });
  const setValue = (key: "value" | "value_to", value: Scalar | undefined) => {
    const next = { ...predicate };
    if (value === undefined) delete next[key];
    else next[key] = value;
    onChange(next);
  };
  return (
    <>
      <Choice
        w={200}
        label="Operator"
        data={operatorsFor(type).map((op) => ({ value: op, label: operatorLabel(op, type) }))}
        value={predicate.operator}
        onChange={(value) => onChange(withOperator(predicate, value as P["operator"], type))}
      />
      {input === "text" &&
        (suggest ? (
          <SuggestedValue
            subject={suggest}
            value={typeof predicate.value === "string" ? predicate.value : String(predicate.value ?? "")}
            onChange={(value) => setValue("value", value)}
          />
        ) : (
          <TextInput
            size="xs"
            w={180}
            label="Value"
            value={typeof predicate.value === "string" ? predicate.value : String(predicate.value ?? "")}
            onChange={(event) => setValue("value", event.currentTarget.value)}
          />
        ))}
      {input === "number" && <NumberValue label="Value" value={predicate.value} onChange={(v) => setValue("value", v)} />}
      {input === "boolean" && (
        <Choice
          w={110}
          label="Value"
          data={[
            { value: "true", label: "true" },
            { value: "false", label: "false" },
          ]}
          value={predicate.value === false ? "false" : "true"}
          onChange={(value) => setValue("value", value === "true")}
        />
      )}
      {input === "date" && (
        <DateValue label="Date" value={predicate.value} onChange={(v) => setValue("value", v)} />
      )}
      {input === "number-range" && (
        <>
          <NumberValue label="From" value={predicate.value} onChange={(v) => setValue("value", v)} />
          <NumberValue label="To" value={predicate.value_to} onChange={(v) => setValue("value_to", v)} />
        </>
      )}
      {input === "date-range" && (
        <>
          <DateValue label="From" value={predicate.value} onChange={(v) => setValue("value", v)} />
          <DateValue label="To" value={predicate.value_to} onChange={(v) => setValue("value_to", v)} />
        </>
      )}
      {input === "list" && (
        <TagsInput
          size="xs"
          w={260}
          label="Values"
          description="Press Enter after each"
          value={(predicate.values ?? []).map(String)}
          onChange={(items) => set({ values: listValues(items, type) })}
        />
      )}
      {(input === "relative" || input === "days") && (
        <>
          <AmountValue
            min={0}
            max={input === "days" ? 365 : 36500}
            value={predicate.amount}
            onChange={(amount) => set({ amount })}
          />
          {input === "relative" ? (
            <Choice w={110} label="Unit" data={TIME_UNITS} value={predicate.unit} onChange={(unit) => set({ unit })} />
          ) : (
            <Text size="sm" pb={6}>
              days
            </Text>
          )}
          {predicate.operator === "more_than_ago" && (
            <Text size="sm" pb={6}>
              ago
            </Text>
          )}
        </>
      )}
    </>
  );
}

/** A text value typed freely, with the values the organization's newest profiles have for the
 * field or property as suggestions (GET /api/profiles/property-values). */
function SuggestedValue({
  subject,
  value,
  onChange,
}: {
  subject: ValueSubject;
  value: string;
  onChange: (value: string) => void;
}) {
  const [prefix] = useDebouncedValue(value, SUGGEST_DELAY_MS);
  const suggestions = useQuery(propertyValuesQuery(subject, prefix));
  return (
    <Autocomplete
      size="xs"
      w={180}
      label="Value"
      data={(suggestions.data?.data ?? []).map((item) => item.value)}
      value={value}
      onChange={onChange}
    />
  );
}

/** A small select that always holds one of its options: it hands on only a chosen value. */
export function Choice<T extends string>({
  label,
  w,
  data,
  value,
  onChange,
  searchable,
}: {
  label: string;
  w: number;
  data: { value: T; label: string }[];
  value: T | null;
  onChange: (value: T) => void;
  searchable?: boolean;
}) {
  return (
    <Select
      size="xs"
      w={w}
      label={label}
      searchable={searchable}
      data={data}
      value={value}
      allowDeselect={false}
      onChange={(next) => next && onChange(next as T)}
    />
  );
}

/** A whole number of time units: "in the last 30 days", "more than 5 days ago". */
export function AmountValue({
  min,
  max,
  value,
  onChange,
}: {
  min: number;
  max?: number;
  value: number | null | undefined;
  onChange: (amount: number | null) => void;
}) {
  return (
    <NumberInput
      size="xs"
      w={90}
      label="Amount"
      min={min}
      max={max}
      allowDecimal={false}
      value={value ?? ""}
      onChange={(next) => onChange(typeof next === "number" ? next : null)}
    />
  );
}

export function NumberValue({
  label,
  value,
  onChange,
  min,
  allowDecimal = true,
  w = 120,
}: {
  label: string;
  value: Scalar | null | undefined;
  onChange: (value: number | undefined) => void;
  min?: number;
  allowDecimal?: boolean;
  w?: number;
}) {
  return (
    <NumberInput
      size="xs"
      w={w}
      label={label}
      min={min}
      allowDecimal={allowDecimal}
      value={typeof value === "number" ? value : ""}
      onChange={(next) => onChange(typeof next === "number" ? next : undefined)}
    />
  );
}

export function DateValue({
  label,
  value,
  onChange,
}: {
  label: string;
  value: Scalar | null | undefined;
  onChange: (value: string | undefined) => void;
}) {
  return (
    <TextInput
      size="xs"
      w={150}
      type="date"
      label={label}
      value={typeof value === "string" ? dayOf(value) : ""}
      onChange={(event) => onChange(event.currentTarget.value || undefined)}
    />
  );
}

function EventFilterEditor({
  metric,
  filter,
  index,
  onChange,
  onRemove,
}: {
  metric: string;
  filter: EventFilter;
  index: number;
  onChange: (next: EventFilter) => void;
  onRemove: () => void;
}) {
  const catalog = useQuery(eventPropertyCatalogQuery(metric));
  const properties = catalog.data?.properties ?? [];
  const type = predicateType(filter);
  return (
    <Group gap="xs" align="flex-end" wrap="wrap" role="group" aria-label={`Property filter ${index + 1}`}>
      <Autocomplete
        size="xs"
        w={170}
        label="Event property"
        placeholder="category"
        data={properties.map((p) => p.name)}
        value={filter.property}
        onChange={(property) => {
          const known = properties.find((p) => p.name === property);
          const next = { ...filter, property };
          onChange(known && known.type !== type ? withValueType(next, known.type) : next);
        }}
      />
      <Choice
        w={120}
        label="Compared as"
        data={VALUE_TYPES}
        value={type}
        onChange={(value) => onChange(withValueType(filter, value))}
      />
      <PredicateInputs predicate={filter} type={type} onChange={onChange} />
      <ActionIcon variant="subtle" color="red" aria-label={`Remove property filter ${index + 1}`} onClick={onRemove} mb={2}>
        <IconX size={14} aria-hidden />
      </ActionIcon>
    </Group>
  );
}

/** An event's property filters ("only events where category is shoes"), with Add and Remove. The
 * property names are suggested from recent events of `metric` (none without a metric). */
export function EventFilterList({
  metric,
  filters,
  max,
  onChange,
  intro = "Only events where",
  addLabel = "Add property filter",
}: {
  metric: string;
  filters: readonly EventFilter[];
  max: number;
  onChange: (filters: EventFilter[]) => void;
  intro?: string;
  addLabel?: string;
}) {
  return (
    <>
      {filters.length > 0 && (
        <Stack gap={6} pl="md" style={{ borderLeft: "2px solid var(--mantine-color-gray-3)" }}>
          <Text size="xs" c="dimmed">
            {intro}
          </Text>
          {filters.map((filter, index) => (
            <EventFilterEditor
              // Filters keep no state of their own: their position is their identity.
              key={index}
              metric={metric}
              filter={filter}
              index={index}
              onChange={(next) => onChange(filters.map((f, i) => (i === index ? next : f)))}
              onRemove={() => onChange(filters.filter((_, i) => i !== index))}
            />
          ))}
        </Stack>
      )}
      <Group>
        <Button
          size="compact-xs"
          variant="subtle"
          leftSection={<IconPlus size={12} aria-hidden />}
          disabled={filters.length >= max}
          onClick={() =>
            onChange([...filters, { property: "", operator: "equals", value: "", unit: "days", value_type: "string" }])
          }
        >
          {addLabel}
        </Button>
      </Group>
    </>
  );
}
