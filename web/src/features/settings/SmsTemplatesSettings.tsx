/** Settings → SMS templates: saved texts, written with the segment counter and a phone-shaped
 * preview, that SMS campaigns start from and flow SMS steps send. */
import { Button, Grid, Group, Modal, Paper, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, call, type SmsTemplate } from "../../api/client";
import { mapFieldErrors } from "../../api/errors";
import { keys, smsTemplatesQuery } from "../../api/queries";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { FormErrors } from "../../components/FormErrors";
import { QueryResult } from "../../components/QueryResult";
import { useConfirmMutation } from "../../components/useConfirmMutation";
import { SmsBodyInput, SmsPhonePreview } from "../campaigns/SmsFields";

interface Editing {
  id: string | null;
  name: string;
  body: string;
}

export function SmsTemplatesSettings() {
  const templates = useQuery(smsTemplatesQuery);
  const [editing, setEditing] = useState<Editing | null>(null);
  const [deleting, setDeleting] = useState<SmsTemplate | null>(null);
  const queryClient = useQueryClient();
  const remove = useConfirmMutation({
    mutationFn: (id: string) => call(api.DELETE("/api/sms/templates/{sms_template_id}", { params: { path: { sms_template_id: id } } })),
    onSuccess: (_data, close) => {
      void queryClient.invalidateQueries({ queryKey: keys.smsTemplates });
      notifications.show({ color: "teal", message: "Template deleted." });
      close();
    },
    onClose: () => setDeleting(null),
  });
  return (
    <Stack gap="lg" maw={960}>
      <Paper withBorder p="md" component="section" aria-label="SMS templates">
        <Stack gap="sm">
          <Group justify="space-between">
            <Title order={2} fz="h4">
              SMS templates
            </Title>
            <Button size="xs" onClick={() => setEditing({ id: null, name: "", body: "" })}>
              New SMS template
            </Button>
          </Group>
          <Text size="sm" c="dimmed">
            Saved texts for SMS campaigns (pick one to start the campaign's text) and for the SMS step of flows (which sends
            the template as it is when the step runs).
          </Text>
          <QueryResult query={templates} loading="Loading templates…">
            {(list) =>
              list.data.length === 0 ? (
                <Text size="sm" c="dimmed">
                  No SMS templates yet.
                </Text>
              ) : (
                <Table fz="sm" aria-label="Saved SMS templates">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Name</Table.Th>
                      <Table.Th>Text</Table.Th>
                      <Table.Th />
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {list.data.map((template) => (
                      <Table.Tr key={template.id}>
                        <Table.Td>{template.name}</Table.Td>
                        <Table.Td>
                          <Text size="sm" lineClamp={2}>
                            {template.body}
                          </Text>
                        </Table.Td>
                        <Table.Td>
                          <Group gap="xs" wrap="nowrap" justify="flex-end">
                            <Button
                              size="xs"
                              variant="default"
                              aria-label={`Edit ${template.name}`}
                              onClick={() => setEditing({ id: template.id, name: template.name, body: template.body })}
                            >
                              Edit
                            </Button>
                            <Button
                              size="xs"
                              variant="subtle"
                              color="red"
                              aria-label={`Delete ${template.name}`}
                              onClick={() => setDeleting(template)}
                            >
                              Delete
                            </Button>
                          </Group>
                        </Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              )
            }
          </QueryResult>
        </Stack>
      </Paper>
      {editing && <TemplateEditor initial={editing} onClose={() => setEditing(null)} />}
      <ConfirmDialog
        opened={deleting !== null}
        title="Delete this SMS template?"
        confirmLabel="Delete"
        onConfirm={() => deleting && remove.mutate(deleting.id)}
        {...remove.dialog}
      >
        Flow SMS steps that send “{deleting?.name}” skip their message (with the reason) until you choose another text.
      </ConfirmDialog>
    </Stack>
  );
}

function TemplateEditor({ initial, onClose }: { initial: Editing; onClose: () => void }) {
  const [name, setName] = useState(initial.name);
  const [body, setBody] = useState(initial.body);
  const queryClient = useQueryClient();
  const save = useMutation({
    mutationFn: () =>
      initial.id
        ? call(
            api.PATCH("/api/sms/templates/{sms_template_id}", {
              params: { path: { sms_template_id: initial.id } },
              body: { name, body },
            }),
          )
        : call(api.POST("/api/sms/templates", { body: { name, body } })),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: keys.smsTemplates });
      notifications.show({ color: "teal", message: "SMS template saved." });
      onClose();
    },
  });
  const errors = save.isError ? mapFieldErrors(save.error, ["name", "body"]) : { byField: {}, other: [] };
  const byField: Record<string, string | undefined> = errors.byField;
  return (
    <Modal opened onClose={onClose} title={initial.id ? "Edit SMS template" : "New SMS template"} size="xl">
      <form
        onSubmit={(event) => {
          event.preventDefault();
          save.mutate();
        }}
      >
        <Grid gap="lg">
          <Grid.Col span={{ base: 12, md: 7 }}>
            <Stack gap="sm">
              <TextInput label="Name" required value={name} error={byField.name} onChange={(e) => setName(e.currentTarget.value)} />
              <SmsBodyInput value={body} onChange={setBody} error={byField.body} templates={false} />
              <FormErrors messages={errors.other} />
              <Group justify="flex-end">
                <Button variant="default" onClick={onClose}>
                  Cancel
                </Button>
                <Button type="submit" loading={save.isPending}>
                  Save template
                </Button>
              </Group>
            </Stack>
          </Grid.Col>
          <Grid.Col span={{ base: 12, md: 5 }}>
            <SmsPhonePreview body={body} />
          </Grid.Col>
        </Grid>
      </form>
    </Modal>
  );
}
