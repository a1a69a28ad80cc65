import { Alert, Badge, Button, Group, Paper, PasswordInput, Select, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useForm } from "@mantine/form";
import { notifications } from "@mantine/notifications";
import { IconUserPlus, IconUsers } from "@tabler/icons-react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, call, type Role, type User } from "../../api/client";
import { errorMessage } from "../../api/errors";
import { keys, usersQuery } from "../../api/queries";
import { useCurrentUser, useIsAdmin } from "../../auth/session";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { DateTime } from "../../components/DateTime";
import { FormErrors } from "../../components/FormErrors";
import { EmptyState, ErrorState, LoadingState } from "../../components/States";
import { useApiErrors } from "../../components/useApiErrors";
import { useConfirmMutation } from "../../components/useConfirmMutation";

const ROLES: { value: Role; label: string }[] = [
  { value: "member", label: "Member: reads everything" },
  { value: "admin", label: "Admin: also keys, team and settings" },
  { value: "owner", label: "Owner: also grants ownership" },
];
const ROLE_NAMES: { value: Role; label: string }[] = [
  { value: "member", label: "Member" },
  { value: "admin", label: "Admin" },
  { value: "owner", label: "Owner" },
];

export function TeamSettings() {
  const isAdmin = useIsAdmin();
  return (
    <Stack gap="lg" maw={960}>
      {isAdmin && <AddUserForm />}
      <UserList />
    </Stack>
  );
}

const USER_FIELDS = ["email", "name", "password", "role"] as const;

function AddUserForm() {
  const queryClient = useQueryClient();
  const errors = useApiErrors(USER_FIELDS);
  const form = useForm({
    initialValues: { email: "", name: "", password: "", role: "member" as Role },
    validate: {
      email: (value) => (/^\S+@\S+\.\S+$/.test(value.trim()) ? null : "Enter an email address"),
      password: (value) => (value.length >= 10 ? null : "Too short: use at least 10 characters"),
    },
  });
  const create = useMutation({
    mutationFn: (values: typeof form.values) =>
      call(
        api.POST("/api/users", {
          body: { email: values.email.trim(), name: values.name.trim(), password: values.password, role: values.role },
        }),
      ),
    onSuccess: (user) => {
      form.reset();
      void queryClient.invalidateQueries({ queryKey: keys.users });
      notifications.show({ color: "teal", message: `${user.email} can now sign in.` });
    },
    onError: (error) => errors.show(form, error),
  });
  return (
    <Paper withBorder p="lg" component="section" aria-labelledby="add-user-title">
      <form
        onSubmit={form.onSubmit((values) => {
          errors.clear();
          create.mutate(values);
        })}
        noValidate
      >
        <Stack>
          <div>
            <Title order={2} fz="h4" id="add-user-title">
              Add a team member
            </Title>
            <Text size="sm" c="dimmed">
              Herald does not send invitation emails yet: choose a first password and give it to them. They can
              change it under Settings → Your account.
            </Text>
          </div>
          <FormErrors messages={errors.other} />
          <Group align="flex-start" grow wrap="wrap">
            <TextInput label="Email" type="email" required autoComplete="off" {...form.getInputProps("email")} />
            <TextInput label="Name" autoComplete="off" {...form.getInputProps("name")} />
          </Group>
          <Group align="flex-start" grow wrap="wrap">
            <PasswordInput
              label="First password"
              description="At least 10 characters"
              required
              autoComplete="new-password"
              {...form.getInputProps("password")}
            />
            <Select label="Role" data={ROLES} allowDeselect={false} required {...form.getInputProps("role")} />
          </Group>
          <Group>
            <Button type="submit" loading={create.isPending} leftSection={<IconUserPlus size={16} aria-hidden />}>
              Add member
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  );
}

function UserList() {
  const me = useCurrentUser();
  const isAdmin = useIsAdmin();
  const queryClient = useQueryClient();
  const users = useQuery(usersQuery);
  const [removing, setRemoving] = useState<User | null>(null);
  const changeRole = useMutation({
    mutationFn: ({ user, role }: { user: User; role: Role }) =>
      call(api.PATCH("/api/users/{user_id}", { params: { path: { user_id: user.id } }, body: { role } })),
    onSuccess: (user) => {
      notifications.show({ color: "teal", message: `${user.email} is now ${user.role === "admin" ? "an" : "a"} ${user.role}.` });
      if (user.id === me.user?.id) void queryClient.invalidateQueries({ queryKey: keys.me });
    },
    onSettled: () => void queryClient.invalidateQueries({ queryKey: keys.users }),
  });

  return (
    <Paper withBorder p="lg" component="section" aria-labelledby="team-title">
      <Title order={2} fz="h4" mb="sm" id="team-title">
        Team
      </Title>
      {changeRole.isError && (
        <Alert
          color="red"
          variant="light"
          mb="md"
          role="alert"
          title="The role was not changed"
          withCloseButton
          closeButtonLabel="Dismiss"
          onClose={() => changeRole.reset()}
        >
          {errorMessage(changeRole.error)}
        </Alert>
      )}
      {users.isPending ? (
        <LoadingState label="Loading the team…" />
      ) : users.isError ? (
        <ErrorState error={users.error} onRetry={() => void users.refetch()} />
      ) : users.data.data.length === 0 ? (
        <EmptyState title="No team members" icon={<IconUsers aria-hidden />} />
      ) : (
        <Table.ScrollContainer minWidth={720}>
          <Table verticalSpacing="sm" aria-label="Team members">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Email</Table.Th>
                <Table.Th>Role</Table.Th>
                <Table.Th>Last signed in</Table.Th>
                {isAdmin && <Table.Th aria-label="Actions" />}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {users.data.data.map((user) => (
                <Table.Tr key={user.id}>
                  <Table.Td>
                    <Group gap="xs">
                      <Text size="sm" fw={500}>
                        {user.name || "—"}
                      </Text>
                      {user.id === me.user?.id && (
                        <Badge size="xs" variant="light">
                          you
                        </Badge>
                      )}
                    </Group>
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm">{user.email}</Text>
                  </Table.Td>
                  <Table.Td>
                    {isAdmin ? (
                      <Select
                        aria-label={`Role of ${user.email}`}
                        data={ROLE_NAMES}
                        value={user.role}
                        allowDeselect={false}
                        w={140}
                        size="xs"
                        disabled={changeRole.isPending}
                        onChange={(role) => role && role !== user.role && changeRole.mutate({ user, role: role as Role })}
                      />
                    ) : (
                      <Text size="sm" tt="capitalize">
                        {user.role}
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm">{user.last_login_at ? <DateTime value={user.last_login_at} relative /> : "Never"}</Text>
                  </Table.Td>
                  {isAdmin && (
                    <Table.Td ta="right">
                      {user.id !== me.user?.id && (
                        <Button
                          size="xs"
                          variant="subtle"
                          color="red"
                          onClick={() => setRemoving(user)}
                          aria-label={`Remove ${user.email}`}
                        >
                          Remove
                        </Button>
                      )}
                    </Table.Td>
                  )}
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      <RemoveDialog user={removing} onClose={() => setRemoving(null)} />
    </Paper>
  );
}

function RemoveDialog({ user, onClose }: { user: User | null; onClose: () => void }) {
  const queryClient = useQueryClient();
  const remove = useConfirmMutation({
    mutationFn: (id: string) => call(api.DELETE("/api/users/{user_id}", { params: { path: { user_id: id } } })),
    onSuccess: (_, close) => {
      void queryClient.invalidateQueries({ queryKey: keys.users });
      notifications.show({ color: "teal", message: `${user?.email ?? "The member"} was removed.` });
      close();
    },
    onClose,
  });
  return (
    <ConfirmDialog
      opened={user !== null}
      title="Remove this team member?"
      confirmLabel="Remove"
      {...remove.dialog}
      onConfirm={() => user && remove.mutate(user.id)}
    >
      {user?.email} can no longer sign in, and is signed out everywhere now.
    </ConfirmDialog>
  );
}
