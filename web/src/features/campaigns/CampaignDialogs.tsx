/** Scheduling a campaign and sending a test of it: the dialogs of the campaign page. */
import { Alert, Anchor, Button, Checkbox, Group, Modal, NumberInput, Stack, Text, TextInput } from "@mantine/core";
import { useForm } from "@mantine/form";
import { notifications } from "@mantine/notifications";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router";
import { api, call, type Campaign, type ScheduleRequest } from "../../api/client";
import { FormErrors } from "../../components/FormErrors";
import { useApiErrors } from "../../components/useApiErrors";
import { AudienceForecast } from "./AudienceSize";
import { localInputValue, scheduleRequest, type ScheduleValues } from "./form";
import { remember } from "./useCampaignActions";

const SCHEDULE_FIELDS = ["when", "grace_minutes"] as const;
const SCHEDULE_ALIASES = { at: "when", local_at: "when" } as const;

function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch {
    return "your time zone";
  }
}

export function ScheduleDialog({ campaign, opened, onClose }: { campaign: Campaign; opened: boolean; onClose: () => void }) {
  return (
    <Modal opened={opened} onClose={onClose} title="Schedule this campaign" centered>
      {/* Mounted only while open, so that it starts afresh an hour from now. */}
      {opened && <ScheduleForm campaign={campaign} onClose={onClose} />}
    </Modal>
  );
}

function ScheduleForm({ campaign, onClose }: { campaign: Campaign; onClose: () => void }) {
  const queryClient = useQueryClient();
  const errors = useApiErrors(SCHEDULE_FIELDS, SCHEDULE_ALIASES);
  const form = useForm<ScheduleValues>({
    initialValues: { when: localInputValue(new Date()), local: false, grace_minutes: 60 },
  });
  const schedule = useMutation({
    mutationFn: (body: ScheduleRequest) =>
      call(api.POST("/api/campaigns/{campaign_id}/schedule", { params: { path: { campaign_id: campaign.id } }, body })),
    onSuccess: (saved) => {
      remember(queryClient, saved);
      notifications.show({ color: "teal", message: `“${saved.name}” is scheduled.` });
      onClose();
    },
    onError: (error) => errors.show(form, error),
  });
  const values = form.getValues();
  return (
    <form
      noValidate
      onSubmit={form.onSubmit((wanted) => {
        errors.clear(form);
        const made = scheduleRequest(wanted);
        if ("error" in made) form.setFieldError("when", made.error);
        else schedule.mutate(made.request);
      })}
    >
      <Stack>
        <TextInput
          type="datetime-local"
          label="Send at"
          required
          description={
            values.local
              ? "This date and time in each recipient's own time zone (else the organization's)."
              : `In your browser's time zone (${browserTimeZone()}).`
          }
          {...form.getInputProps("when")}
        />
        <Checkbox
          label="In each recipient's local time"
          description="Everyone gets it at this time on their own clock: Herald starts with the first time zone to reach it."
          {...form.getInputProps("local", { type: "checkbox" })}
        />
        {values.local && (
          <NumberInput
            label="Grace"
            description="Recipients whose time passed less than this long ago get it at once; those further past, at that time the next day."
            suffix=" minutes"
            min={0}
            max={1440}
            allowDecimal={false}
            w={260}
            {...form.getInputProps("grace_minutes")}
          />
        )}
        <AudienceForecast campaign={campaign} scheduled />
        <FormErrors messages={errors.other} />
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" loading={schedule.isPending}>
            Schedule
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

export function TestSendDialog({ campaign, opened, onClose }: { campaign: Campaign; opened: boolean; onClose: () => void }) {
  return (
    <Modal opened={opened} onClose={onClose} title="Send a test" centered>
      {opened && <TestSendForm campaign={campaign} onClose={onClose} />}
    </Modal>
  );
}

function TestSendForm({ campaign, onClose }: { campaign: Campaign; onClose: () => void }) {
  const errors = useApiErrors(["email"]);
  const form = useForm({
    initialValues: { email: "" },
    validate: { email: (value) => (/^\S+@\S+$/.test(value.trim()) ? null : "Enter an email address.") },
  });
  const send = useMutation({
    mutationFn: (email: string) =>
      call(api.POST("/api/campaigns/{campaign_id}/test-send", { params: { path: { campaign_id: campaign.id } }, body: { email } })),
    onError: (error) => errors.show(form, error),
  });
  return (
    <form
      noValidate
      onSubmit={form.onSubmit((values) => {
        errors.clear(form);
        send.mutate(values.email.trim());
      })}
    >
      <Stack>
        <Text size="sm" c="dimmed">
          The campaign's email, rendered for nobody in particular, to one address now. A test is not a recipient and is not
          counted in the stats.
        </Text>
        <TextInput label="Email address" type="email" required {...form.getInputProps("email")} />
        <FormErrors messages={errors.other} />
        {send.isSuccess && (
          <Alert color="teal" variant="light">
            Test queued for {send.variables}.{" "}
            <Anchor component={Link} to={`/messages/${send.data.message_id}`} size="sm">
              Follow the message
            </Anchor>
          </Alert>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Close
          </Button>
          <Button type="submit" loading={send.isPending}>
            Send test
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
