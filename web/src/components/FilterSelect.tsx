import { Select } from "@mantine/core";

/** A filter above a list: one of `options`, or "" for the first choice, which lets everything through. */
export function FilterSelect<T extends string>({
  label,
  anyLabel,
  options,
  value,
  onChange,
  w,
}: {
  label: string;
  /** The label of "", such as "Any status". */
  anyLabel: string;
  options: readonly { value: T; label: string }[];
  value: "" | T;
  onChange: (value: "" | T) => void;
  w?: number;
}) {
  return (
    <Select
      label={label}
      w={w}
      allowDeselect={false}
      value={value}
      data={[{ value: "", label: anyLabel }, ...options]}
      onChange={(next) => onChange((next ?? "") as "" | T)}
    />
  );
}
