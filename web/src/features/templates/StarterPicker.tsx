/** "Start from a starter": choose one of the server's starter templates, see it at desktop or
 * phone width, name it, and create the template (then open it in the editor). */
import { Button, Grid, Group, Modal, Radio, ScrollArea, Stack, Text, TextInput } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useNavigate } from "react-router";
import { api, call, type Schemas } from "../../api/client";
import { mapFieldErrors } from "../../api/errors";
import { keys } from "../../api/queries";
import { EmailFrame, WidthToggle, type FrameWidth } from "../../components/EmailFrame";
import { FormErrors } from "../../components/FormErrors";
import { ErrorState, LoadingState } from "../../components/States";

export type TemplateStarter = Schemas["TemplateStarter"];

const starterKeys = {
  list: ["template-starters"] as const,
  preview: (key: string) => ["template-starters", "preview", key] as const,
};

// Made-up data, so that the abandoned-cart and order starters show items.
const SAMPLE = {
  profile: { first_name: "Ada" },
  event: {
    items: [
      { name: "Linen shirt", quantity: 1, price: 49 },
      { name: "Canvas tote", quantity: 2, price: 15 },
    ],
    value: 79,
    currency: "EUR",
  },
  data: {
    order_id: "A-1042",
    items: [{ name: "Linen shirt", quantity: 1, price: 49 }],
    total: 49,
    currency: "EUR",
    shipping_address: "1 Harbour Street, Dublin",
  },
};

export function StarterPicker({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const starters = useQuery({
    queryKey: starterKeys.list,
    queryFn: () => call(api.GET("/api/templates/starters")),
    enabled: opened,
    staleTime: Infinity,
  });
  const [chosenKey, setChosenKey] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [width, setWidth] = useState<FrameWidth>("desktop");
  const [nameError, setNameError] = useState<string | null>(null);
  const [other, setOther] = useState<string[]>([]);
  const list = starters.data?.data ?? [];
  const chosen = list.find((s) => s.key === chosenKey) ?? list[0];
  const preview = useQuery({
    queryKey: starterKeys.preview(chosen?.key ?? ""),
    queryFn: () =>
      call(
        api.POST("/api/templates/preview", {
          body: { subject: chosen!.subject, body: chosen!.mjml, body_format: "mjml", sample: SAMPLE },
        }),
      ),
    enabled: opened && chosen !== undefined,
    staleTime: Infinity,
  });
  const create = useMutation({
    mutationFn: (starter: TemplateStarter) =>
      call(api.POST("/api/templates", { body: { starter: starter.key, name: name.trim() || starter.name } })),
    onSuccess: (template) => {
      void queryClient.invalidateQueries({ queryKey: keys.templatesAll, exact: true });
      onClose();
      void navigate(`/templates/${template.id}`);
    },
    onError: (error) => {
      const mapped = mapFieldErrors(error, ["name"]);
      setNameError(mapped.byField.name ?? null);
      setOther(mapped.other);
    },
  });
  return (
    <Modal opened={opened} onClose={onClose} title="Start from a starter" size="min(1200px, 95vw)" centered>
      {starters.isPending ? (
        <LoadingState label="Loading starters…" />
      ) : starters.isError ? (
        <ErrorState error={starters.error} onRetry={() => void starters.refetch()} />
      ) : (
        <Grid gap="lg">
          <Grid.Col span={{ base: 12, md: 4 }}>
            <Stack>
              <Radio.Group
                label="Starter"
                value={chosen?.key ?? null}
                onChange={(value) => {
                  setChosenKey(value);
                  setOther([]);
                }}
              >
                <Stack gap="xs" mt="xs">
                  {list.map((starter) => (
                    <Radio.Card key={starter.key} value={starter.key} p="sm" radius="md">
                      <Group wrap="nowrap" align="flex-start">
                        <Radio.Indicator />
                        <div>
                          <Text fw={500}>{starter.name}</Text>
                          <Text size="sm" c="dimmed">
                            {starter.description}
                          </Text>
                        </div>
                      </Group>
                    </Radio.Card>
                  ))}
                </Stack>
              </Radio.Group>
              <TextInput
                label="Template name"
                placeholder={chosen?.name}
                value={name}
                maxLength={255}
                error={nameError}
                onChange={(event) => {
                  setName(event.currentTarget.value);
                  setNameError(null);
                }}
              />
              <FormErrors messages={other} />
              <Group justify="flex-end">
                <Button variant="default" onClick={onClose}>
                  Cancel
                </Button>
                <Button disabled={!chosen} loading={create.isPending} onClick={() => chosen && create.mutate(chosen)}>
                  Create template
                </Button>
              </Group>
            </Stack>
          </Grid.Col>
          <Grid.Col span={{ base: 12, md: 8 }}>
            <Stack gap="xs">
              <Group justify="space-between">
                <Text size="sm" fw={500}>
                  Preview with sample data
                </Text>
                <WidthToggle value={width} onChange={setWidth} />
              </Group>
              <ScrollArea.Autosize mah={620}>
                {preview.data ? (
                  <EmailFrame html={preview.data.html} title={`${chosen?.name ?? "Starter"} preview`} width={width} />
                ) : preview.isError ? (
                  <ErrorState error={preview.error} />
                ) : (
                  <LoadingState label="Rendering…" />
                )}
              </ScrollArea.Autosize>
            </Stack>
          </Grid.Col>
        </Grid>
      )}
    </Modal>
  );
}
