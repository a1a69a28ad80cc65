import { Button, Group, NumberInput, Paper, Stack, Text, Title } from "@mantine/core";
import { useForm } from "@mantine/form";
import { notifications } from "@mantine/notifications";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, call } from "../../api/client";
import { keys, retentionQuery } from "../../api/queries";
import { hasRole, useCurrentUser } from "../../auth/session";
import { DateTime } from "../../components/DateTime";
import { FormErrors } from "../../components/FormErrors";
import { ErrorState, LoadingState } from "../../components/States";
import { useApiErrors } from "../../components/useApiErrors";
import { RETENTION_FIELDS, retentionBody, retentionSummary, retentionValues, type Retention } from "./retentionForm";

export function RetentionSettings() {
  const settings = useQuery(retentionQuery);
  if (settings.isPending) return <LoadingState label="Loading the retention settings…" />;
  if (settings.isError) return <ErrorState error={settings.error} onRetry={() => void settings.refetch()} />;
  return <RetentionForm key={JSON.stringify(retentionValues(settings.data))} settings={settings.data} />;
}

function RetentionForm({ settings }: { settings: Retention }) {
  const canChange = hasRole(useCurrentUser().role, "admin");
  const queryClient = useQueryClient();
  const errors = useApiErrors(RETENTION_FIELDS);
  const form = useForm({ initialValues: retentionValues(settings) });
  const save = useMutation({
    mutationFn: (values: typeof form.values) => call(api.PATCH("/api/retention", { body: retentionBody(values) })),
    onSuccess: (saved) => {
      queryClient.setQueryData(keys.retention, saved);
      notifications.show({ color: "teal", message: "Retention settings saved." });
    },
    onError: (error) => errors.show(form, error),
  });
  return (
    <Paper withBorder p="lg" maw={720} component="section" aria-labelledby="retention-title">
      <form
        onSubmit={form.onSubmit((values) => {
          errors.clear();
          save.mutate(values);
        })}
        noValidate
      >
        <Stack>
          <div>
            <Title order={2} fz="h4" id="retention-title">
              Data retention
            </Title>
            <Text size="sm" c="dimmed">
              Herald deletes what is older once a day. Reports, campaign and flow figures, conversions and revenue stay
              as they were; segments about older activity only see what is kept. Leave a field empty to keep that data
              for ever.{!canChange && " Only admins and owners change these."}
            </Text>
          </div>
          <FormErrors messages={errors.other} />
          <NumberInput
            label="Raw events: keep for (months)"
            description="Tracked events older than this are deleted."
            placeholder="For ever"
            min={1}
            max={120}
            allowDecimal={false}
            allowNegative={false}
            disabled={!canChange}
            {...form.getInputProps("events_months")}
          />
          <NumberInput
            label="Message bodies: keep for (days)"
            description="The content of sent messages and the outbox's copies older than this are deleted; the messages and their figures stay."
            placeholder="For ever"
            min={1}
            max={3650}
            allowDecimal={false}
            allowNegative={false}
            disabled={!canChange}
            {...form.getInputProps("message_bodies_days")}
          />
          <Text size="sm">{retentionSummary(form.values)}</Text>
          {settings.last_run_at && (
            <Text size="xs" c="dimmed">
              Last run <DateTime value={settings.last_run_at} />
              {settings.events_pruned_before && (
                <>
                  ; events before <DateTime value={settings.events_pruned_before} /> have been deleted
                </>
              )}
              .
            </Text>
          )}
          {canChange && (
            <Group>
              <Button type="submit" loading={save.isPending} disabled={!form.isDirty()}>
                Save
              </Button>
            </Group>
          )}
        </Stack>
      </form>
    </Paper>
  );
}
