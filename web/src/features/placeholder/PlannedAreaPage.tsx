import { Badge, Paper, Stack, Text } from "@mantine/core";
import { PageHeader } from "../../components/PageHeader";
import type { Area } from "../../shell/navigation";

/** An area of the product that is not built yet: says so, shows no made-up data. */
export function PlannedAreaPage({ area }: { area: Area }) {
  return (
    <>
      <PageHeader title={area.label} />
      <Paper withBorder p="lg" maw={720}>
        <Stack gap="sm" align="flex-start">
          <Badge color="gray" variant="light">
            Not built yet
          </Badge>
          <Text>{area.label} is not part of this version of Herald yet.</Text>
          <Text c="dimmed" size="sm">
            {area.planned}
          </Text>
        </Stack>
      </Paper>
    </>
  );
}
