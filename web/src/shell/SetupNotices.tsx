/** What a new install still needs from its owner: the organization's real name, and a base URL
 * that matches where Herald is reached. Shown above every screen until dealt with. */
import { Alert, Button, Code, Modal, Stack, Text, TextInput } from "@mantine/core";
import { useForm } from "@mantine/form";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, call } from "../api/client";
import { keys } from "../api/queries";
import { useCurrentUser, useIsAdmin } from "../auth/session";
import { FormErrors } from "../components/FormErrors";
import { useApiErrors } from "../components/useApiErrors";
import { linksPointElsewhere } from "./setup";

export function SetupNotices() {
  const me = useCurrentUser();
  const isAdmin = useIsAdmin();
  return (
    <>
      {isAdmin && !me.organization.name_confirmed && <NameOrganization />}
      <BaseUrlWarning linksBaseUrl={me.links_base_url} />
    </>
  );
}

const FIELDS = ["name"] as const;

function NameOrganization() {
  const queryClient = useQueryClient();
  const errors = useApiErrors(FIELDS);
  const form = useForm({
    initialValues: { name: "" },
    validate: { name: (value) => (value.trim() ? null : "Give the organization a name") },
  });
  const save = useMutation({
    mutationFn: (name: string) => call(api.PATCH("/api/organization", { body: { name } })),
    onSuccess: (saved) => {
      queryClient.setQueryData(keys.organization, saved);
      void queryClient.invalidateQueries({ queryKey: keys.me });
    },
    onError: (error) => errors.show(form, error),
  });
  return (
    <Modal
      opened
      onClose={() => undefined}
      withCloseButton={false}
      closeOnClickOutside={false}
      closeOnEscape={false}
      title="Name your organization"
    >
      <form
        onSubmit={form.onSubmit((values) => {
          errors.clear();
          save.mutate(values.name.trim());
        })}
        noValidate
      >
        <Stack>
          <Text size="sm">
            Herald started with the placeholder name “My organization”. Your shop's name goes into
            the footer of every email you send and is what your team sees here; you can change it
            later in Settings.
          </Text>
          <FormErrors messages={errors.other} />
          <TextInput
            label="Organization name"
            placeholder="Corner Bakery"
            required
            data-autofocus
            {...form.getInputProps("name")}
          />
          <Button type="submit" loading={save.isPending}>
            Save name
          </Button>
        </Stack>
      </form>
    </Modal>
  );
}

function BaseUrlWarning({ linksBaseUrl }: { linksBaseUrl: string }) {
  const [dismissed, setDismissed] = useState(false);
  if (dismissed || !linksPointElsewhere(linksBaseUrl, window.location.origin)) return null;
  return (
    <Alert
      color="yellow"
      title="Links in your messages point at another address"
      withCloseButton
      closeButtonLabel="Dismiss until the next visit"
      onClose={() => setDismissed(true)}
      mb="md"
    >
      Tracking, click and unsubscribe links use <Code>{linksBaseUrl}</Code>, but this dashboard is
      served from <Code>{window.location.origin}</Code>. If people reach Herald at this address, set{" "}
      <Code>HERALD_BASE_URL={window.location.origin}</Code> and restart Herald; otherwise links in
      emails will not work for recipients.
    </Alert>
  );
}
