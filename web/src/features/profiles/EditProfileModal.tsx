/** Edit profile: the built-in fields and the custom properties. Only what changed is sent. */
import { ActionIcon, Button, Fieldset, Group, Modal, Stack, Text, TextInput, Tooltip } from "@mantine/core";
import { useForm, type UseFormReturnType } from "@mantine/form";
import { notifications } from "@mantine/notifications";
import { IconArrowBackUp, IconPlus, IconTrash } from "@tabler/icons-react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, call, type Profile } from "../../api/client";
import { keys } from "../../api/queries";
import { FormErrors } from "../../components/FormErrors";
import { JsonTextarea } from "../../components/JsonTextarea";
import { useApiErrors } from "../../components/useApiErrors";
import { profileLabel } from "../../lib/format";
import { buildUpdateBody, FIELD_ALIASES, FORM_FIELDS, toEditValues, type EditValues, type ProfileUpdate } from "./form";
import { ProfileFields } from "./ProfileFields";

export function EditProfileModal({ profile, opened, onClose }: { profile: Profile; opened: boolean; onClose: () => void }) {
  return (
    <Modal opened={opened} onClose={onClose} title="Edit profile" size="xl">
      {/* Mounted while open, so that each opening starts from what Herald stored. */}
      {opened && <EditProfileForm profile={profile} onClose={onClose} />}
    </Modal>
  );
}

function EditProfileForm({ profile, onClose }: { profile: Profile; onClose: () => void }) {
  const queryClient = useQueryClient();
  const errors = useApiErrors(FORM_FIELDS, FIELD_ALIASES);
  const form = useForm<EditValues>({
    initialValues: toEditValues(profile),
    validate: (values) => buildUpdateBody(profile, values).errors ?? {},
  });
  const save = useMutation({
    mutationFn: (body: ProfileUpdate) =>
      call(api.PATCH("/api/profiles/{profile_id}", { params: { path: { profile_id: profile.id } }, body })),
    onSuccess: (saved) => {
      queryClient.setQueryData(keys.profile(saved.id), saved);
      void queryClient.invalidateQueries({ queryKey: keys.profilesAll });
      notifications.show({ color: "teal", message: `${profileLabel(saved)} was saved.` });
      onClose();
    },
    onError: (error) => errors.show(form, error),
  });
  return (
    <form
      noValidate
      onSubmit={form.onSubmit((values) => {
        errors.clear();
        const built = buildUpdateBody(profile, values);
        if (!built.body) return;
        if (Object.keys(built.body).length === 0) onClose();
        else save.mutate(built.body);
      })}
    >
      <Stack>
        <FormErrors messages={errors.other} />
        <ProfileFields inputProps={(field) => form.getInputProps(field)} />
        <PropertiesEditor form={form} />
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" loading={save.isPending} disabled={!form.isDirty()}>
            Save changes
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

/** The stored custom properties (change a value, remove one) and new ones. Values are JSON. */
function PropertiesEditor({ form }: { form: UseFormReturnType<EditValues> }) {
  const { stored, added } = form.getValues();
  const problem = form.errors.properties;
  return (
    <Fieldset legend="Custom properties" variant="unstyled">
      <Stack gap="sm">
        <Text size="sm" c="dimmed">
          Values are JSON: text in double quotes (&quot;gold&quot;), numbers, true, false, null, lists and objects.
        </Text>
        {typeof problem === "string" && (
          <Text size="sm" c="red" role="alert">
            {problem}
          </Text>
        )}
        {stored.length === 0 && added.length === 0 && (
          <Text size="sm" c="dimmed">
            No custom properties.
          </Text>
        )}
        {stored.map((property, index) =>
          property.removed ? (
            <Group key={property.name} gap="xs" justify="space-between" wrap="nowrap">
              <Text size="sm" c="dimmed" td="line-through" style={{ overflowWrap: "anywhere" }}>
                {property.name}
              </Text>
              <Group gap="xs" wrap="nowrap">
                <Text size="sm" c="dimmed">
                  Removed when you save
                </Text>
                <Button
                  size="xs"
                  variant="subtle"
                  leftSection={<IconArrowBackUp size={14} aria-hidden />}
                  aria-label={`Keep ${property.name}`}
                  onClick={() => form.setFieldValue(`stored.${index}.removed`, false)}
                >
                  Keep
                </Button>
              </Group>
            </Group>
          ) : (
            <Group key={property.name} gap="xs" align="flex-start" wrap="nowrap">
              <JsonTextarea label={property.name} style={{ flex: 1 }} {...form.getInputProps(`stored.${index}.value`)} />
              <Tooltip label="Remove this property">
                <ActionIcon
                  variant="subtle"
                  color="red"
                  mt={26}
                  aria-label={`Remove ${property.name}`}
                  onClick={() => form.setFieldValue(`stored.${index}.removed`, true)}
                >
                  <IconTrash size={16} aria-hidden />
                </ActionIcon>
              </Tooltip>
            </Group>
          ),
        )}
        {added.map((_, index) => (
          <Fieldset key={index} legend={`New property ${index + 1}`} variant="filled" p="sm">
            <Group gap="xs" align="flex-start" wrap="nowrap">
              <TextInput label="Name" autoComplete="off" w="35%" {...form.getInputProps(`added.${index}.name`)} />
              <JsonTextarea label="Value" style={{ flex: 1 }} {...form.getInputProps(`added.${index}.value`)} />
              <Tooltip label="Do not add it">
                <ActionIcon
                  variant="subtle"
                  color="red"
                  mt={26}
                  aria-label={`Remove new property ${index + 1}`}
                  onClick={() => form.removeListItem("added", index)}
                >
                  <IconTrash size={16} aria-hidden />
                </ActionIcon>
              </Tooltip>
            </Group>
          </Fieldset>
        ))}
        <Group>
          <Button
            variant="default"
            size="xs"
            leftSection={<IconPlus size={14} aria-hidden />}
            onClick={() => form.insertListItem("added", { name: "", value: "" })}
          >
            Add property
          </Button>
        </Group>
      </Stack>
    </Fieldset>
  );
}
