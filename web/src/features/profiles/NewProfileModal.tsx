/** New profile: a person added by hand; their page opens once Herald has stored them. */
import { Button, Group, Modal, Stack } from "@mantine/core";
import { useForm } from "@mantine/form";
import { notifications } from "@mantine/notifications";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "react-router";
import { api, call } from "../../api/client";
import { keys } from "../../api/queries";
import { FormErrors } from "../../components/FormErrors";
import { JsonTextarea } from "../../components/JsonTextarea";
import { useApiErrors } from "../../components/useApiErrors";
import { profileLabel } from "../../lib/format";
import { buildCreateBody, FIELD_ALIASES, FORM_FIELDS, newProfileValues, type CreateValues, type ProfileCreate } from "./form";
import { ProfileFields } from "./ProfileFields";

export function NewProfileModal({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const errors = useApiErrors(FORM_FIELDS, FIELD_ALIASES);
  const form = useForm<CreateValues>({
    initialValues: newProfileValues(),
    validate: (values) => buildCreateBody(values).errors ?? {},
  });
  const close = () => {
    form.reset();
    errors.clear();
    create.reset();
    onClose();
  };
  const create = useMutation({
    mutationFn: (body: ProfileCreate) => call(api.POST("/api/profiles", { body })),
    onSuccess: (profile) => {
      queryClient.setQueryData(keys.profile(profile.id), profile);
      void queryClient.invalidateQueries({ queryKey: keys.profilesAll });
      notifications.show({ color: "teal", message: `${profileLabel(profile)} was added.` });
      close();
      void navigate(`/profiles/${profile.id}`);
    },
    onError: (error) => errors.show(form, error),
  });
  return (
    <Modal opened={opened} onClose={close} title="New profile" size="xl">
      <form
        noValidate
        onSubmit={form.onSubmit((values) => {
          errors.clear();
          const built = buildCreateBody(values);
          if (built.body) create.mutate(built.body);
        })}
      >
        <Stack>
          <FormErrors messages={errors.other} />
          <ProfileFields inputProps={(field) => form.getInputProps(field)} />
          <JsonTextarea
            label="Custom properties"
            description='A JSON object of names and values, such as {"plan": "pro", "orders": 3}'
            minRows={3}
            maxRows={12}
            {...form.getInputProps("properties")}
          />
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button type="submit" loading={create.isPending}>
              Create profile
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
