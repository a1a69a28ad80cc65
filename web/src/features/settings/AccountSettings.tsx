import { Button, Group, Paper, PasswordInput, Stack, Text, Title } from "@mantine/core";
import { useForm } from "@mantine/form";
import { notifications } from "@mantine/notifications";
import { useMutation } from "@tanstack/react-query";
import { api, call } from "../../api/client";
import { useCurrentUser } from "../../auth/session";
import { FormErrors } from "../../components/FormErrors";
import { useApiErrors } from "../../components/useApiErrors";

const FIELDS = ["current_password", "new_password"] as const;

export function AccountSettings() {
  const me = useCurrentUser();
  const errors = useApiErrors(FIELDS);
  const form = useForm({
    initialValues: { current_password: "", new_password: "", confirm: "" },
    validate: {
      current_password: (value) => (value ? null : "Enter your current password"),
      new_password: (value) => (value.length >= 10 ? null : "Too short: use at least 10 characters"),
      confirm: (value, values) => (value === values.new_password ? null : "The two new passwords differ"),
    },
  });
  const change = useMutation({
    mutationFn: (values: typeof form.values) =>
      call(
        api.POST("/api/me/password", {
          body: { current_password: values.current_password, new_password: values.new_password },
        }),
      ),
    onSuccess: () => {
      form.reset();
      notifications.show({
        color: "teal",
        message: "Password changed. Your other browsers were signed out.",
      });
    },
    onError: (error) => errors.show(form, error),
  });
  return (
    <Paper withBorder p="lg" maw={520} component="section" aria-labelledby="password-title">
      <form
        onSubmit={form.onSubmit((values) => {
          errors.clear();
          change.mutate(values);
        })}
        noValidate
      >
        <Stack>
          <div>
            <Title order={2} fz="h4" id="password-title">
              Change your password
            </Title>
            <Text size="sm" c="dimmed">
              Signed in as {me.user?.email}. Changing the password signs you out of every other browser.
            </Text>
          </div>
          <FormErrors messages={errors.other} />
          <PasswordInput
            label="Current password"
            required
            autoComplete="current-password"
            {...form.getInputProps("current_password")}
          />
          <PasswordInput
            label="New password"
            description="At least 10 characters"
            required
            autoComplete="new-password"
            {...form.getInputProps("new_password")}
          />
          <PasswordInput
            label="New password again"
            required
            autoComplete="new-password"
            {...form.getInputProps("confirm")}
          />
          <Group>
            <Button type="submit" loading={change.isPending}>
              Change password
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  );
}
