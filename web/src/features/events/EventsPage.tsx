import { Grid, Paper, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useSearchParams } from "react-router";
import { metricsQuery } from "../../api/queries";
import { PageHeader } from "../../components/PageHeader";
import { QueryList } from "../../components/QueryResult";
import { FirstEventPanel } from "../onboarding/FirstEventPanel";
import { EventStream } from "./EventStream";
import { MetricsTable } from "./MetricsTable";

export function EventsPage() {
  const [params, setParams] = useSearchParams();
  const name = params.get("name");
  const metrics = useQuery(metricsQuery);
  const setName = (next: string | null) => setParams(next ? { name: next } : {}, { replace: true });

  return (
    <>
      <PageHeader
        title="Events"
        description="What people did, as your site, app and backend reported it: every event name with its count, and the newest events."
      />
      <QueryList
        query={metrics}
        loading="Loading events…"
        framed={false}
        empty={
          <FirstEventPanel
            intro="No events yet. Send one with any of these snippets, and it appears here within a moment."
            onSent={() => void metrics.refetch()}
          />
        }
      >
        {(items) => (
          <Grid gap="lg">
            <Grid.Col span={{ base: 12, lg: 5 }}>
              <Paper withBorder p="md" component="section" aria-labelledby="event-names">
                <Title order={2} fz="h4" mb="sm" id="event-names">
                  Event names
                </Title>
                <MetricsTable metrics={items} selected={name} onSelect={setName} />
              </Paper>
            </Grid.Col>
            <Grid.Col span={{ base: 12, lg: 7 }}>
              <Paper withBorder p="md" component="section" aria-labelledby="recent-events">
                <Title order={2} fz="h4" mb="sm" id="recent-events">
                  Recent events
                </Title>
                <EventStream
                  names={items.map((metric) => metric.name)}
                  name={name}
                  onNameChange={setName}
                  onRefresh={() => void metrics.refetch()}
                />
              </Paper>
            </Grid.Col>
          </Grid>
        )}
      </QueryList>
    </>
  );
}
