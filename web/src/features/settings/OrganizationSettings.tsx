import { Autocomplete, Button, Group, Paper, Stack, Text, TextInput, Title } from "@mantine/core";
import { useForm } from "@mantine/form";
import { notifications } from "@mantine/notifications";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, call, type Organization } from "../../api/client";
import { keys, organizationQuery } from "../../api/queries";
import { useIsAdmin } from "../../auth/session";
import { DateTime } from "../../components/DateTime";
import { FormErrors } from "../../components/FormErrors";
import { ErrorState, LoadingState } from "../../components/States";
import { useApiErrors } from "../../components/useApiErrors";
import { timeZones } from "../../lib/timeZones";

const FIELDS = ["name", "timezone", "default_region"] as const;

export function OrganizationSettings() {
  const organization = useQuery(organizationQuery);
  if (organization.isPending) return <LoadingState label="Loading the organization…" />;
  if (organization.isError) {
    return <ErrorState error={organization.error} onRetry={() => void organization.refetch()} />;
  }
  // Keyed by the saved values, so that the form starts over from what Herald stored.
  return <OrganizationForm key={organization.dataUpdatedAt} organization={organization.data} />;
}

function OrganizationForm({ organization }: { organization: Organization }) {
  const isAdmin = useIsAdmin();
  const queryClient = useQueryClient();
  const errors = useApiErrors(FIELDS);
  const form = useForm({
    initialValues: {
      name: organization.name,
      timezone: organization.timezone,
      default_region: organization.default_region,
    },
    validate: {
      name: (value) => (value.trim() ? null : "Give the organization a name"),
      timezone: (value) => (value.trim() ? null : "Choose a time zone, for example Europe/Berlin"),
      default_region: (value) =>
        /^[A-Za-z]{2}$/.test(value.trim()) ? null : "Two letters, for example US or DE",
    },
  });
  const save = useMutation({
    mutationFn: (values: typeof form.values) =>
      call(
        api.PATCH("/api/organization", {
          body: {
            name: values.name.trim(),
            timezone: values.timezone.trim(),
            default_region: values.default_region.trim().toUpperCase(),
          },
        }),
      ),
    onSuccess: (saved) => {
      queryClient.setQueryData(keys.organization, saved);
      void queryClient.invalidateQueries({ queryKey: keys.me });
      notifications.show({ color: "teal", message: "Organization saved." });
    },
    onError: (error) => errors.show(form, error),
  });

  return (
    <Paper withBorder p="lg" maw={640} component="section" aria-labelledby="organization-title">
      <form
        onSubmit={form.onSubmit((values) => {
          errors.clear();
          save.mutate(values);
        })}
        noValidate
      >
        <Stack>
          <div>
            <Title order={2} fz="h4" id="organization-title">
              Organization
            </Title>
            <Text size="sm" c="dimmed">
              Created <DateTime value={organization.created_at} />.
              {!isAdmin && " Only admins and owners can change these."}
            </Text>
          </div>
          <FormErrors messages={errors.other} />
          <TextInput label="Name" required disabled={!isAdmin} {...form.getInputProps("name")} />
          <Autocomplete
            label="Time zone"
            description="Used for local-time features when a profile has no time zone of its own."
            data={timeZones()}
            limit={50}
            required
            disabled={!isAdmin}
            {...form.getInputProps("timezone")}
          />
          <TextInput
            label="Default region"
            description="The country code for phone numbers written without one (two letters, such as US)."
            required
            maxLength={2}
            styles={{ input: { width: 120, textTransform: "uppercase" } }}
            disabled={!isAdmin}
            {...form.getInputProps("default_region")}
          />
          {isAdmin && (
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
