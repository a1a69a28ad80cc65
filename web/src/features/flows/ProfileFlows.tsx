/** The profile page's flows card: the flows this person is or was in, each with its path. */
import { Accordion, Anchor, Group, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { profileFlowsQuery } from "../../api/queries";
import { QueryResult } from "../../components/QueryResult";
import { EnrolmentPath } from "./EnrolmentPath";
import { EnrolmentStatusBadge } from "./FlowStatusBadge";

export function ProfileFlows({ profileId }: { profileId: string }) {
  const flows = useQuery(profileFlowsQuery(profileId));
  return (
    <QueryResult query={flows} loading="Loading flows…">
      {({ data }) =>
        data.length === 0 ? (
          <Text size="sm" c="dimmed">
            Not in any flow.
          </Text>
        ) : (
          <Accordion variant="separated" multiple defaultValue={data.filter((e) => e.status === "active" || e.status === "waiting").map((e) => e.id)}>
            {data.map((enrolment) => (
              <Accordion.Item key={enrolment.id} value={enrolment.id} data-testid="profile-flow">
                <Accordion.Control>
                  <Group gap="xs" wrap="nowrap">
                    <Text size="sm" fw={500}>
                      {enrolment.flow_name}
                    </Text>
                    <EnrolmentStatusBadge status={enrolment.status} />
                  </Group>
                </Accordion.Control>
                <Accordion.Panel>
                  <EnrolmentPath enrolment={enrolment} />
                  <Anchor component={Link} to={`/flows/${enrolment.flow_id}`} size="xs">
                    Open the flow
                  </Anchor>
                </Accordion.Panel>
              </Accordion.Item>
            ))}
          </Accordion>
        )
      }
    </QueryResult>
  );
}
