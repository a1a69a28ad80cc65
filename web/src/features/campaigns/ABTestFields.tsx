/** The A/B test's settings in the campaign editor: 2 to 7 variants (each changing the subject, the
 * template, the sender's name or the send time), the test pool, the winning metric, the
 * duration, the confidence and what happens without a clear winner. */
import {
  ActionIcon,
  Badge,
  Button,
  Group,
  NumberInput,
  Paper,
  Radio,
  Select,
  SimpleGrid,
  Stack,
  Text,
  TextInput,
  Tooltip,
  type ComboboxItem,
} from "@mantine/core";
import { IconPlus, IconTrash } from "@tabler/icons-react";
import type { CampaignForm } from "./CampaignEditorPage";
import { MAX_VARIANTS, MIN_VARIANTS, newVariant, removeVariant, variantChanges, variantKey, type Fallback } from "./form";
import { METRIC_LABELS, type ABMetric } from "./status";

const METRIC_OPTIONS = (Object.keys(METRIC_LABELS) as ABMetric[]).map((value) => ({ value, label: METRIC_LABELS[value] }));

export function ABTestFields({ form, templates }: { form: CampaignForm; templates: ComboboxItem[] }) {
  const ab = form.getValues().ab;
  const count = ab.variants.length;
  const perVariant = Math.floor((ab.pool_percent / Math.max(count, 1)) * 10) / 10;
  return (
    <Stack gap="sm">
      <Text size="sm" c="dimmed">
        A field left empty in a variant is the campaign's. Variant keys follow their order: A, B, C…
      </Text>
      {ab.variants.map((variant, index) => {
        const key = variantKey(index);
        const changes = variantChanges(variant);
        return (
          <Paper key={index} withBorder p="sm" component="fieldset" aria-label={`Variant ${key}`} m={0}>
            <Stack gap="xs">
              <Group justify="space-between">
                <Group gap="xs">
                  <Badge variant="filled" color="violet" size="lg" radius="sm">
                    {key}
                  </Badge>
                  <Text size="sm" c="dimmed">
                    {changes.length ? `Changes the ${changes.join(", ")}` : "The campaign as it is"}
                  </Text>
                </Group>
                <Tooltip label={count <= MIN_VARIANTS ? `A test needs at least ${MIN_VARIANTS} variants` : `Remove variant ${key}`}>
                  <ActionIcon
                    variant="subtle"
                    color="red"
                    aria-label={`Remove variant ${key}`}
                    disabled={count <= MIN_VARIANTS}
                    onClick={() => form.setFieldValue("ab", removeVariant(ab, index))}
                  >
                    <IconTrash size={16} aria-hidden />
                  </ActionIcon>
                </Tooltip>
              </Group>
              <TextInput
                label={`Subject of variant ${key}`}
                placeholder="The campaign's subject"
                styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)" } }}
                {...form.getInputProps(`ab.variants.${index}.subject`)}
              />
              <SimpleGrid cols={{ base: 1, sm: 3 }}>
                <Select
                  label={`Template of variant ${key}`}
                  placeholder="The campaign's"
                  clearable
                  searchable
                  data={templates}
                  {...form.getInputProps(`ab.variants.${index}.template_id`)}
                />
                <TextInput
                  label={`From name of variant ${key}`}
                  placeholder="The campaign's"
                  {...form.getInputProps(`ab.variants.${index}.from_name`)}
                />
                <NumberInput
                  label={`Send delay of variant ${key}`}
                  description="Minutes after the start"
                  placeholder="None"
                  min={0}
                  max={1440}
                  allowDecimal={false}
                  {...form.getInputProps(`ab.variants.${index}.send_delay_minutes`)}
                />
              </SimpleGrid>
            </Stack>
          </Paper>
        );
      })}
      {form.errors["ab.variants"] && (
        <Text size="sm" c="red">
          {form.errors["ab.variants"]}
        </Text>
      )}
      <Group>
        <Button
          variant="default"
          leftSection={<IconPlus size={16} aria-hidden />}
          disabled={count >= MAX_VARIANTS}
          onClick={() => form.insertListItem("ab.variants", newVariant())}
        >
          Add variant
        </Button>
        <Text size="xs" c="dimmed">
          {count} of {MAX_VARIANTS} variants
        </Text>
      </Group>
      <SimpleGrid cols={{ base: 1, sm: 2 }}>
        <NumberInput
          label="Test pool"
          description={`${perVariant}% of the audience gets each variant`}
          suffix="%"
          min={1}
          max={100}
          allowDecimal={false}
          {...form.getInputProps("ab.pool_percent")}
        />
        <Select
          label="Winning metric"
          allowDeselect={false}
          data={METRIC_OPTIONS}
          {...form.getInputProps("ab.metric")}
        />
        <NumberInput
          label="Test duration"
          description="Then the winner goes to the rest"
          suffix=" hours"
          min={1}
          max={168}
          allowDecimal={false}
          {...form.getInputProps("ab.duration_hours")}
        />
        <NumberInput
          label="Confidence"
          description="A winner is declared only at this confidence"
          suffix="%"
          min={80}
          max={99.9}
          decimalScale={1}
          step={0.5}
          {...form.getInputProps("ab.confidence_percent")}
        />
      </SimpleGrid>
      <Radio.Group
        label="Without a clear winner"
        {...form.getInputProps("ab.fallback")}
        onChange={(value) => form.setFieldValue("ab.fallback", value as Fallback)}
      >
        <Stack gap={6} mt={6}>
          <Radio value="leader" label="Send the leading variant anyway" />
          <Radio value="default" label="Send a variant I choose" />
        </Stack>
      </Radio.Group>
      {ab.fallback === "default" && (
        <Select
          label="Variant to send"
          maw={240}
          allowDeselect={false}
          data={ab.variants.map((_, i) => ({ value: variantKey(i), label: `Variant ${variantKey(i)}` }))}
          {...form.getInputProps("ab.default_variant")}
        />
      )}
    </Stack>
  );
}
