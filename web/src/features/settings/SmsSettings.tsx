/** Settings → SMS (admins): Twilio's credentials and senders, keyword replies, quiet hours and
 * limits, with a button that checks the credentials against Twilio's account endpoint. */
import {
  Alert,
  Button,
  Checkbox,
  Group,
  NumberInput,
  PasswordInput,
  SimpleGrid,
  Stack,
  Text,
  Textarea,
  TextInput,
} from "@mantine/core";
import { useForm } from "@mantine/form";
import { notifications } from "@mantine/notifications";
import { IconLock } from "@tabler/icons-react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, call, type SmsSettings as Settings, type SmsSettingsUpdate } from "../../api/client";
import { keys, smsSettingsQuery } from "../../api/queries";
import { useIsAdmin } from "../../auth/session";
import { CodeBlock } from "../../components/CodeBlock";
import { FormErrors } from "../../components/FormErrors";
import { Section } from "../../components/Section";
import { ErrorState, LoadingState } from "../../components/States";
import { useApiErrors } from "../../components/useApiErrors";

const FIELDS = [
  "account_sid",
  "auth_token",
  "sender_numbers",
  "messaging_service_sid",
  "brand_name",
  "stop_reply",
  "start_reply",
  "help_reply",
  "quiet_start",
  "quiet_end",
  "per_second",
  "per_day",
  "per_number_per_second",
] as const;

export function SmsSettings() {
  const isAdmin = useIsAdmin();
  const settings = useQuery({ ...smsSettingsQuery, enabled: isAdmin });
  if (!isAdmin) {
    return (
      <Alert color="gray" variant="light" icon={<IconLock aria-hidden />} title="Admins only" maw={640}>
        Only admins and owners can see and change how Herald sends SMS.
      </Alert>
    );
  }
  if (settings.isPending) return <LoadingState label="Loading the SMS settings…" />;
  if (settings.isError) return <ErrorState error={settings.error} onRetry={() => void settings.refetch()} />;
  return <SmsSettingsForm key={settings.dataUpdatedAt} settings={settings.data} />;
}

function formValues(settings: Settings) {
  const custom = new Set(settings.custom_replies);
  return {
    account_sid: settings.account_sid ?? "",
    auth_token: "",
    sender_numbers: settings.sender_numbers.join("\n"),
    messaging_service_sid: settings.messaging_service_sid ?? "",
    brand_name: settings.brand_name ?? "",
    stop_reply: custom.has("stop") ? settings.stop_reply : "",
    start_reply: custom.has("start") ? settings.start_reply : "",
    help_reply: custom.has("help") ? settings.help_reply : "",
    quiet_hours: settings.quiet_hours,
    quiet_start: settings.quiet_start,
    quiet_end: settings.quiet_end,
    per_second: settings.per_second ?? ("" as number | ""),
    per_day: settings.per_day ?? ("" as number | ""),
    per_number_per_second: settings.per_number_per_second ?? ("" as number | ""),
    require_opt_out: settings.require_opt_out,
  };
}

type Values = ReturnType<typeof formValues>;

function toUpdate(values: Values): SmsSettingsUpdate {
  const text = (value: string) => value.trim() || null;
  const number = (value: number | "") => (value === "" ? null : value);
  const update: SmsSettingsUpdate = {
    account_sid: text(values.account_sid),
    sender_numbers: values.sender_numbers
      .split(/[\s,]+/)
      .map((n) => n.trim())
      .filter(Boolean),
    messaging_service_sid: text(values.messaging_service_sid),
    brand_name: text(values.brand_name),
    stop_reply: text(values.stop_reply),
    start_reply: text(values.start_reply),
    help_reply: text(values.help_reply),
    quiet_hours: values.quiet_hours,
    quiet_start: values.quiet_start,
    quiet_end: values.quiet_end,
    per_second: number(values.per_second),
    per_day: number(values.per_day),
    per_number_per_second: number(values.per_number_per_second),
    require_opt_out: values.require_opt_out,
  };
  // Left out, the stored token is kept.
  if (values.auth_token.trim()) update.auth_token = values.auth_token.trim();
  return update;
}

function SmsSettingsForm({ settings }: { settings: Settings }) {
  const queryClient = useQueryClient();
  const errors = useApiErrors(FIELDS);
  const form = useForm({ initialValues: formValues(settings) });
  const save = useMutation({
    mutationFn: (values: Values) => call(api.PUT("/api/sms/settings", { body: toUpdate(values) })),
    onSuccess: (saved) => {
      queryClient.setQueryData(keys.smsSettings, saved);
      notifications.show({ color: "teal", message: "SMS settings saved." });
    },
    onError: (error) => errors.show(form, error),
  });
  const check = useMutation({
    mutationFn: () => call(api.POST("/api/sms/settings/check")),
  });
  return (
    <form
      noValidate
      aria-label="SMS settings"
      onSubmit={form.onSubmit((values) => {
        errors.clear();
        save.mutate(values);
      })}
    >
      <Stack gap="lg" maw={760}>
        <FormErrors messages={errors.other} />
        <Section title="Twilio" description="Herald sends SMS through your Twilio account.">
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <TextInput label="Account SID" placeholder="AC…" {...form.getInputProps("account_sid")} />
            <PasswordInput
              label="Auth token"
              placeholder={settings.auth_token_set ? "Stored (leave empty to keep it)" : ""}
              {...form.getInputProps("auth_token")}
            />
          </SimpleGrid>
          <Textarea
            label="Sender numbers"
            description="Your Twilio numbers in E.164 (+14155550100), one a line."
            autosize
            minRows={2}
            {...form.getInputProps("sender_numbers")}
          />
          <TextInput
            label="Messaging Service SID"
            description="Instead of numbers: Twilio picks the sender."
            placeholder="MG…"
            {...form.getInputProps("messaging_service_sid")}
          />
          <Group>
            <Button variant="default" onClick={() => check.mutate()} loading={check.isPending}>
              Check connection
            </Button>
            {check.data && (
              <Text size="sm" c={check.data.ok ? "teal" : "red"} role="status">
                {check.data.ok
                  ? `Connected: ${check.data.account_name ?? "account"} (${check.data.account_status ?? "active"})`
                  : `Not connected: ${check.data.error ?? "unknown error"}`}
              </Text>
            )}
          </Group>
          <CodeBlock label="Inbound webhook (set on each number: A message comes in)" code={settings.inbound_webhook_url} />
        </Section>
        <Section title="Keyword replies" description="Left empty, the default (shown) is sent.">
          <TextInput label="Brand name" placeholder="Your organization's name" {...form.getInputProps("brand_name")} />
          <Textarea label="Reply to STOP" placeholder={settings.stop_reply} autosize {...form.getInputProps("stop_reply")} />
          <Textarea label="Reply to START" placeholder={settings.start_reply} autosize {...form.getInputProps("start_reply")} />
          <Textarea label="Reply to HELP" placeholder={settings.help_reply} autosize {...form.getInputProps("help_reply")} />
          <Checkbox
            label="Add “Reply STOP to opt out.” to marketing texts that do not say how to stop"
            {...form.getInputProps("require_opt_out", { type: "checkbox" })}
          />
        </Section>
        <Section title="Quiet hours and limits" description="Marketing texts wait outside these hours in the recipient's local time.">
          <Checkbox label="Quiet hours" {...form.getInputProps("quiet_hours", { type: "checkbox" })} />
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <NumberInput label="From (hour)" min={0} max={23} {...form.getInputProps("quiet_start")} />
            <NumberInput label="Until (hour)" min={0} max={23} {...form.getInputProps("quiet_end")} />
          </SimpleGrid>
          <SimpleGrid cols={{ base: 1, sm: 3 }}>
            <NumberInput label="Messages a second" min={1} {...form.getInputProps("per_second")} />
            <NumberInput label="Messages a day" min={1} {...form.getInputProps("per_day")} />
            <NumberInput label="A second, per number" min={1} {...form.getInputProps("per_number_per_second")} />
          </SimpleGrid>
        </Section>
        <Group>
          <Button type="submit" loading={save.isPending}>
            Save
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
