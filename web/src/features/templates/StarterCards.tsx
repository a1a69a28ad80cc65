/** The New template page starts blank or from one of Herald's starter templates (newsletter, product
 * announcement, abandoned cart, welcome, order confirmation), shown as cards. */
import { Card, Paper, SimpleGrid, Stack, Text, Title, UnstyledButton } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { api, call, type Schemas } from "../../api/client";

export type Starter = Schemas["TemplateStarter"];

// The same query (key and answer) as the Templates page's "Start from a starter".
const startersQuery = {
  queryKey: ["template-starters"] as const,
  queryFn: () => call(api.GET("/api/templates/starters")),
  staleTime: Infinity,
};

function StarterCard({
  title,
  description,
  chosen,
  onClick,
}: {
  title: string;
  description: string;
  chosen: boolean;
  onClick: () => void;
}) {
  return (
    <UnstyledButton onClick={onClick} aria-pressed={chosen} aria-label={`Start from ${title}`}>
      <Card
        withBorder
        padding="sm"
        h="100%"
        style={{ borderColor: chosen ? "var(--mantine-primary-color-filled)" : undefined, borderWidth: chosen ? 2 : 1 }}
      >
        <Text fw={600} size="sm">
          {title}
        </Text>
        <Text size="xs" c="dimmed" mt={4}>
          {description}
        </Text>
      </Card>
    </UnstyledButton>
  );
}

export function StarterCards({ chosen, onChoose }: { chosen: string; onChoose: (starter: Starter | null) => void }) {
  const starters = useQuery(startersQuery);
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="starter-title">
      <Stack gap="sm">
        <Title order={2} fz="h4" id="starter-title">
          Start from
        </Title>
        <SimpleGrid cols={{ base: 1, xs: 2, md: 3, xl: 6 }} spacing="sm">
          <StarterCard
            title="Blank"
            description="A heading, a paragraph, a button and the footer marketing email needs."
            chosen={chosen === "blank"}
            onClick={() => onChoose(null)}
          />
          {(starters.data?.data ?? []).map((starter) => (
            <StarterCard
              key={starter.key}
              title={starter.name}
              description={starter.description}
              chosen={chosen === starter.key}
              onClick={() => onChoose(starter)}
            />
          ))}
        </SimpleGrid>
        {starters.isError && (
          <Text size="sm" c="dimmed">
            The starter templates could not be loaded; start blank.
          </Text>
        )}
      </Stack>
    </Paper>
  );
}
