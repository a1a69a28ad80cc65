/** The period every analytics screen shows: presets, or any first and last day. */
import { Group, SegmentedControl, TextInput } from "@mantine/core";
import type { DateRange } from "./api";
import { lastDays } from "./format";

const PRESETS = [7, 30, 90] as const;

export function DateRangePicker({ value, onChange }: { value: DateRange; onChange: (range: DateRange) => void }) {
  const preset = PRESETS.find((days) => {
    const range = lastDays(days);
    return range.from === value.from && range.to === value.to;
  });
  return (
    <Group gap="xs" align="flex-end" wrap="wrap">
      <SegmentedControl
        size="xs"
        aria-label="Period"
        value={preset ? String(preset) : "custom"}
        onChange={(days) => {
          if (days !== "custom") onChange(lastDays(Number(days)));
        }}
        data={[
          ...PRESETS.map((days) => ({ value: String(days), label: `${days} days` })),
          { value: "custom", label: "Custom", disabled: true },
        ]}
      />
      <TextInput
        size="xs"
        type="date"
        label="From"
        value={value.from}
        max={value.to}
        onChange={(event) => event.currentTarget.value && onChange({ ...value, from: event.currentTarget.value })}
      />
      <TextInput
        size="xs"
        type="date"
        label="To"
        value={value.to}
        min={value.from}
        onChange={(event) => event.currentTarget.value && onChange({ ...value, to: event.currentTarget.value })}
      />
    </Group>
  );
}
