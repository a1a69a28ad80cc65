/** The visual builder of segment definitions: groups of conditions, nested up to five levels.
 * Its state is the API's definition JSON (see definition.ts), so what is shown is what is saved. */
import {
  ActionIcon,
  Autocomplete,
  Badge,
  Button,
  Group,
  Menu,
  Paper,
  SegmentedControl,
  Select,
  Stack,
  Switch,
  Text,
  Tooltip,
} from "@mantine/core";
import {
  IconActivity,
  IconChevronDown,
  IconFilter,
  IconFolderPlus,
  IconMailCheck,
  IconPlus,
  IconUser,
  IconX,
} from "@tabler/icons-react";
import { createContext, useCallback, useContext, useRef, useState, type ReactNode } from "react";
import type { SegmentCatalog } from "../../api/client";
import { AmountValue, Choice, DateValue, EventFilterList, NumberValue, PredicateInputs } from "./ConditionInputs";
import {
  addTo,
  canNestGroup,
  conditionsOf,
  countConditions,
  endOfDay,
  EVENT_COMPARISONS,
  EVENT_MODES,
  eventMode,
  fieldLabel,
  isGroup,
  MAX_CONDITIONS,
  MAX_DEPTH,
  MAX_FILTERS,
  newCondition,
  pathKey,
  pathLabel,
  predicateType,
  removeAt,
  startOfDay,
  subjectOptions,
  TIME_UNITS,
  updateAt,
  VALUE_TYPES,
  windowTypes,
  withEventMode,
  withSubject,
  withValueType,
  withWindowType,
  type Condition,
  type ConditionScope,
  type ConsentCondition,
  type Definition,
  type EventCondition,
  type EventFilter,
  type EventMode,
  type GroupLike,
  type NewConditionKind,
  type OnReplace,
  type Path,
  type ProfileCondition,
  type SegmentCondition,
} from "./definition";

export interface SegmentOption {
  id: string;
  name: string;
}

interface BuilderContextValue {
  update: (path: Path, node: GroupLike | Condition) => void;
  add: (groupPath: Path, condition: Condition) => void;
  remove: (path: Path) => void;
  keyOf: (node: object) => string;
  catalog: SegmentCatalog | undefined;
  segments: readonly SegmentOption[];
  selfId: string | undefined;
  errors: Readonly<Record<string, readonly string[]>>;
  /** What each condition still lacks (by path key), shown once it was left or a save tried. */
  problems: Readonly<Record<string, readonly string[]>>;
  showAllProblems: boolean;
  touched: ReadonlySet<string>;
  touch: (key: string) => void;
  full: boolean;
  scope: ConditionScope;
  label: string;
}

const BuilderContext = createContext<BuilderContextValue | null>(null);

function useBuilder(): BuilderContextValue {
  const value = useContext(BuilderContext);
  if (!value) throw new Error("outside the segment builder");
  return value;
}

/** Stable React keys for conditions, carried from each replaced node to its replacement. */
function useNodeKeys() {
  const keys = useRef(new WeakMap<object, string>());
  const next = useRef(0);
  const keyOf = useCallback((node: object) => {
    let key = keys.current.get(node);
    if (key === undefined) {
      key = `c${next.current++}`;
      keys.current.set(node, key);
    }
    return key;
  }, []);
  const carry: OnReplace = useCallback(
    (before, after) => {
      keys.current.set(after, keyOf(before));
    },
    [keyOf],
  );
  return { keyOf, carry };
}

export function SegmentBuilder({
  definition,
  onChange,
  catalog,
  segments,
  selfId,
  errors = {},
  scope = "segment",
  label = "Conditions",
  problems = {},
  showAllProblems = false,
}: {
  definition: Definition;
  onChange: (definition: Definition) => void;
  catalog: SegmentCatalog | undefined;
  segments: readonly SegmentOption[];
  selfId?: string;
  errors?: Readonly<Record<string, readonly string[]>>;
  /** A flow's conditions may also count events since the profile entered the flow. */
  scope?: ConditionScope;
  /** The accessible name of the outer group (two builders on one screen need two names). */
  label?: string;
  /** What conditions still lack (definitionProblems): each shows its own once the person left
   * it, all of them with `showAllProblems` (after a save was tried). */
  problems?: Readonly<Record<string, readonly string[]>>;
  showAllProblems?: boolean;
}) {
  const { keyOf, carry } = useNodeKeys();
  const [touched, setTouched] = useState<ReadonlySet<string>>(() => new Set());
  const touch = useCallback(
    (key: string) => setTouched((before) => (before.has(key) ? before : new Set(before).add(key))),
    [],
  );
  const context: BuilderContextValue = {
    update: (path, node) => onChange(updateAt(definition, path, () => node, carry)),
    add: (groupPath, condition) => onChange(addTo(definition, groupPath, condition, carry)),
    remove: (path) => onChange(removeAt(definition, path, carry)),
    keyOf,
    catalog,
    segments,
    selfId,
    errors,
    problems,
    showAllProblems,
    touched,
    touch,
    full: countConditions(definition) >= MAX_CONDITIONS,
    scope,
    label,
  };
  return (
    <BuilderContext.Provider value={context}>
      <GroupEditor group={definition} path={[]} />
    </BuilderContext.Provider>
  );
}

function groupName(path: Path, scope: ConditionScope): string {
  if (path.length > 0) return `group ${pathLabel(path)}`;
  return scope === "segment" ? "the segment" : "these conditions";
}

function GroupEditor({ group, path }: { group: GroupLike; path: Path }) {
  const builder = useBuilder();
  const conditions = conditionsOf(group);
  const root = path.length === 0;
  const name = groupName(path, builder.scope);
  const errors = builder.errors[pathKey(path)] ?? [];
  const set = (change: Partial<GroupLike>) => builder.update(path, { ...group, ...change } as GroupLike);
  const joiner = group.match === "all" ? "and" : "or";
  return (
    <Paper
      withBorder
      p="sm"
      role="group"
      aria-label={root ? builder.label : `Group ${pathLabel(path)}`}
      bg={path.length % 2 === 1 ? "var(--mantine-color-gray-0)" : undefined}
    >
      <Stack gap="sm">
        <Group justify="space-between" wrap="nowrap" align="center">
          <Group gap="sm" wrap="wrap">
            {!root && (
              <Badge variant="light" color="grape">
                Group {pathLabel(path)}
              </Badge>
            )}
            <Text size="sm">{group.negate ? "People who do not match" : "People who match"}</Text>
            <SegmentedControl
              size="xs"
              aria-label={`Match in ${name}`}
              value={group.match}
              onChange={(value) => set({ match: value as GroupLike["match"] })}
              data={[
                { value: "all", label: "All" },
                { value: "any", label: "Any" },
              ]}
            />
            <Text size="sm">of these conditions</Text>
            <Switch
              size="sm"
              label="Not"
              aria-label={`Not: exclude who matches ${name}`}
              checked={group.negate}
              onChange={(event) => set({ negate: event.currentTarget.checked })}
            />
          </Group>
          {!root && (
            <Tooltip label="Remove this group and its conditions">
              <ActionIcon
                variant="subtle"
                color="red"
                aria-label={`Remove group ${pathLabel(path)}`}
                onClick={() => builder.remove(path)}
              >
                <IconX size={16} aria-hidden />
              </ActionIcon>
            </Tooltip>
          )}
        </Group>
        {conditions.length === 0 && (
          <Text size="sm" c="dimmed">
            {root
              ? "No conditions yet: add one below. A profile property, an event, another segment or consent."
              : "This group is empty: add a condition to it."}
          </Text>
        )}
        {conditions.map((condition, index) => {
          const childPath = [...path, index];
          return (
            <Stack gap={6} key={builder.keyOf(condition)}>
              {index > 0 && (
                <Text size="xs" fw={700} c="dimmed" tt="uppercase" pl="xs">
                  {joiner}
                </Text>
              )}
              {isGroup(condition) ? (
                <GroupEditor group={condition} path={childPath} />
              ) : (
                <ConditionCard condition={condition} path={childPath} />
              )}
            </Stack>
          );
        })}
        <Problems messages={errors} />
        <Group gap="xs">
          <AddConditionMenu path={path} />
          <Tooltip
            label={`Groups nest at most ${MAX_DEPTH} levels deep`}
            disabled={canNestGroup(path)}
          >
            <Button
              size="xs"
              variant="default"
              leftSection={<IconFolderPlus size={14} aria-hidden />}
              disabled={!canNestGroup(path) || builder.full}
              aria-label={root ? "Add group" : `Add group to group ${pathLabel(path)}`}
              onClick={() => builder.add(path, newCondition("group"))}
            >
              Add group
            </Button>
          </Tooltip>
        </Group>
      </Stack>
    </Paper>
  );
}

const CONDITION_KINDS: { kind: NewConditionKind; label: string; icon: ReactNode }[] = [
  { kind: "profile", label: "Profile property", icon: <IconUser size={14} aria-hidden /> },
  { kind: "event", label: "Event", icon: <IconActivity size={14} aria-hidden /> },
  { kind: "segment", label: "Segment membership", icon: <IconFilter size={14} aria-hidden /> },
  { kind: "consent", label: "Consent", icon: <IconMailCheck size={14} aria-hidden /> },
];

function AddConditionMenu({ path }: { path: Path }) {
  const builder = useBuilder();
  return (
    <Menu position="bottom-start">
      <Menu.Target>
        <Button
          size="xs"
          variant="light"
          leftSection={<IconPlus size={14} aria-hidden />}
          rightSection={<IconChevronDown size={14} aria-hidden />}
          disabled={builder.full}
          aria-label={path.length === 0 ? "Add condition" : `Add condition to group ${pathLabel(path)}`}
        >
          Add condition
        </Button>
      </Menu.Target>
      <Menu.Dropdown>
        {CONDITION_KINDS.map(({ kind, label, icon }) => (
          <Menu.Item key={kind} leftSection={icon} onClick={() => builder.add(path, newCondition(kind))}>
            {label}
          </Menu.Item>
        ))}
      </Menu.Dropdown>
    </Menu>
  );
}

const KIND_LABELS: Record<Exclude<Condition["type"], "group">, string> = {
  profile: "Profile",
  event: "Event",
  segment: "Segment",
  consent: "Consent",
};

function ConditionCard({ condition, path }: { condition: Exclude<Condition, { type: "group" }>; path: Path }) {
  const builder = useBuilder();
  const label = pathLabel(path);
  const key = builder.keyOf(condition);
  const serverErrors = builder.errors[pathKey(path)] ?? [];
  const missing = builder.showAllProblems || builder.touched.has(key) ? (builder.problems[pathKey(path)] ?? []) : [];
  const errors = serverErrors.length ? serverErrors : missing;
  const update = (next: Condition) => builder.update(path, next);
  return (
    <Paper
      withBorder
      p="sm"
      role="group"
      aria-label={`Condition ${label}`}
      style={errors.length ? { borderColor: "var(--mantine-color-red-5)" } : undefined}
      onBlur={(event) => {
        // Left the condition (not moved between its own inputs): say what it still lacks.
        const next = event.relatedTarget;
        if (!(next instanceof Node && event.currentTarget.contains(next))) builder.touch(key);
      }}
    >
      <Group justify="space-between" align="flex-start" wrap="nowrap" gap="xs">
        <Stack gap="xs" style={{ flex: 1, minWidth: 0 }}>
          <Group gap="xs">
            <Badge variant="light" size="sm">
              {KIND_LABELS[condition.type]}
            </Badge>
            <Text size="xs" c="dimmed">
              Condition {label}
            </Text>
          </Group>
          {condition.type === "profile" && <ProfileConditionEditor condition={condition} onChange={update} />}
          {condition.type === "event" && <EventConditionEditor condition={condition} onChange={update} />}
          {condition.type === "segment" && <SegmentConditionEditor condition={condition} onChange={update} />}
          {condition.type === "consent" && <ConsentConditionEditor condition={condition} onChange={update} />}
          <Problems messages={errors} />
        </Stack>
        <Tooltip label="Remove this condition">
          <ActionIcon
            variant="subtle"
            color="red"
            aria-label={`Remove condition ${label}`}
            onClick={() => builder.remove(path)}
          >
            <IconX size={16} aria-hidden />
          </ActionIcon>
        </Tooltip>
      </Group>
    </Paper>
  );
}

function Problems({ messages }: { messages: readonly string[] }) {
  if (messages.length === 0) return null;
  return (
    <Stack gap={2}>
      {messages.map((message) => (
        <Text key={message} size="sm" c="red" data-condition-error>
          {message}
        </Text>
      ))}
    </Stack>
  );
}

// --- Profile conditions ------------------------------------------------------------------------

function ProfileConditionEditor({
  condition,
  onChange,
}: {
  condition: ProfileCondition;
  onChange: (next: ProfileCondition) => void;
}) {
  const { catalog } = useBuilder();
  const { builtins, properties, data } = subjectOptions(catalog);
  const isField = condition.field != null;
  const type = predicateType(condition, condition.field);
  const toProperty = (name: string) => {
    const known = properties.find((p) => p.name === name);
    onChange(withSubject(condition, known ? { property: name, type: known.type } : { property: name }));
  };
  // What the picker's text means: a field's label (as listed) is that field, anything else a
  // custom property of that name.
  const choose = (text: string) => {
    const custom = /^(.*) \(custom\)$/.exec(text);
    if (custom && properties.some((p) => p.name === custom[1])) return toProperty(custom[1]!);
    const field = builtins.find((name) => fieldLabel(name) === text);
    if (field) return onChange(withSubject(condition, { field }));
    toProperty(text);
  };
  const labels = new Set(builtins.map(fieldLabel));
  const shown = isField
    ? fieldLabel(condition.field!)
    : labels.has(condition.property ?? "")
      ? `${condition.property} (custom)`
      : (condition.property ?? "");
  return (
    <Group gap="xs" align="flex-end" wrap="wrap">
      <Autocomplete
        size="xs"
        w={200}
        label="Property"
        placeholder="City, plan…"
        data={data}
        value={shown}
        onChange={choose}
      />
      {!isField && (
        <Choice
          w={120}
          label="Compared as"
          data={VALUE_TYPES}
          value={type}
          onChange={(value) => onChange(withValueType(condition, value))}
        />
      )}
      <PredicateInputs
        predicate={condition}
        type={type}
        onChange={onChange}
        suggest={isField ? { field: condition.field! } : condition.property ? { property: condition.property } : undefined}
      />
    </Group>
  );
}

// --- Event conditions --------------------------------------------------------------------------

function EventConditionEditor({
  condition,
  onChange,
}: {
  condition: EventCondition;
  onChange: (next: EventCondition) => void;
}) {
  const { catalog, scope } = useBuilder();
  // "count" chosen by hand stays "count" while its number is edited, even at "at least 1".
  const [countChosen, setCountChosen] = useState(false);
  const derived = eventMode(condition);
  const mode: EventMode = countChosen && condition.measure === "count" ? "count" : derived;
  const window = condition.window ?? { type: "all_time", unit: "days" };
  const filters = condition.filters ?? [];
  const setWindow = (next: Partial<typeof window>) => onChange({ ...condition, window: { ...window, ...next } });
  const setFilters = (next: EventFilter[]) => onChange({ ...condition, filters: next });
  const whole = condition.measure === "count";
  return (
    <Stack gap="xs">
      <Group gap="xs" align="flex-end" wrap="wrap">
        <Autocomplete
          size="xs"
          w={200}
          label="Event"
          placeholder="Placed Order"
          data={catalog?.metrics ?? []}
          value={condition.metric}
          onChange={(metric) => onChange({ ...condition, metric })}
        />
        <Choice
          w={150}
          label="Condition"
          data={EVENT_MODES}
          value={mode}
          onChange={(value) => {
            setCountChosen(value === "count");
            onChange(withEventMode(condition, value));
          }}
        />
        {(mode === "count" || mode === "sum" || mode === "average") && (
          <>
            <Choice
              w={110}
              label="Is"
              data={EVENT_COMPARISONS}
              value={condition.operator}
              onChange={(value) => {
                const next: EventCondition = { ...condition, operator: value };
                if (value === "between") next.value_to = condition.value_to ?? condition.value + (whole ? 5 : 100);
                else delete next.value_to;
                onChange(next);
              }}
            />
            <NumberValue
              label={condition.operator === "between" ? "From" : "Number"}
              value={condition.value}
              min={0}
              allowDecimal={!whole}
              w={100}
              onChange={(value) => onChange({ ...condition, value: value ?? 0 })}
            />
            {condition.operator === "between" && (
              <NumberValue
                label="To"
                value={condition.value_to}
                min={0}
                allowDecimal={!whole}
                w={100}
                onChange={(value) => onChange({ ...condition, value_to: value ?? null })}
              />
            )}
            {whole && (
              <Text size="sm" pb={6}>
                times
              </Text>
            )}
          </>
        )}
        <Choice
          w={130}
          label="When"
          data={windowTypes(scope)}
          value={window.type}
          onChange={(value) => onChange({ ...condition, window: withWindowType(window, value) })}
        />
        {window.type === "in_the_last" && (
          <>
            <AmountValue min={1} value={window.amount} onChange={(amount) => setWindow({ amount })} />
            <Choice w={110} label="Unit" data={TIME_UNITS} value={window.unit} onChange={(unit) => setWindow({ unit })} />
          </>
        )}
        {(window.type === "since" || window.type === "between") && (
          <DateValue
            label={window.type === "since" ? "Since (UTC)" : "From (UTC)"}
            value={window.start}
            onChange={(day) => setWindow({ start: day ? startOfDay(day) : null })}
          />
        )}
        {window.type === "between" && (
          <DateValue
            label="To (UTC)"
            value={window.end}
            onChange={(day) => setWindow({ end: day ? endOfDay(day) : null })}
          />
        )}
      </Group>
      <EventFilterList metric={condition.metric} filters={filters} max={MAX_FILTERS} onChange={setFilters} />
    </Stack>
  );
}

// --- Segment membership and consent ------------------------------------------------------------

const MEMBERSHIP_OPERATORS: { value: SegmentCondition["operator"]; label: string }[] = [
  { value: "in", label: "is in" },
  { value: "not_in", label: "is not in" },
];

const CONSENT_OPERATORS: { value: ConsentCondition["operator"]; label: string }[] = [
  { value: "can_receive", label: "can receive marketing by" },
  { value: "cannot_receive", label: "cannot receive marketing by" },
];

const CONSENT_CHANNELS: { value: ConsentCondition["channel"]; label: string }[] = [
  { value: "email", label: "email" },
  { value: "sms", label: "SMS" },
];

function SegmentConditionEditor({
  condition,
  onChange,
}: {
  condition: SegmentCondition;
  onChange: (next: SegmentCondition) => void;
}) {
  const { segments, selfId } = useBuilder();
  const options = segments.filter((s) => s.id !== selfId).map((s) => ({ value: s.id, label: s.name }));
  if (condition.segment_id && !options.some((o) => o.value === condition.segment_id)) {
    options.push({ value: condition.segment_id, label: "(a segment that no longer exists)" });
  }
  return (
    <Group gap="xs" align="flex-end" wrap="wrap">
      <Choice
        w={130}
        label="Membership"
        data={MEMBERSHIP_OPERATORS}
        value={condition.operator}
        onChange={(operator) => onChange({ ...condition, operator })}
      />
      <Select
        size="xs"
        w={240}
        label="Segment"
        placeholder={options.length ? "Pick a segment" : "No other segments yet"}
        searchable
        data={options}
        value={condition.segment_id || null}
        onChange={(value) => onChange({ ...condition, segment_id: value ?? "" })}
      />
    </Group>
  );
}

function ConsentConditionEditor({
  condition,
  onChange,
}: {
  condition: ConsentCondition;
  onChange: (next: ConsentCondition) => void;
}) {
  return (
    <Group gap="xs" align="flex-end" wrap="wrap">
      <Choice
        w={210}
        label="Consent"
        data={CONSENT_OPERATORS}
        value={condition.operator}
        onChange={(operator) => onChange({ ...condition, operator })}
      />
      <Choice
        w={110}
        label="Channel"
        data={CONSENT_CHANNELS}
        value={condition.channel}
        onChange={(channel) => onChange({ ...condition, channel })}
      />
    </Group>
  );
}
