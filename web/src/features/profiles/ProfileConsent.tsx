import { Badge, Group, Stack, Table, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import type { ChannelConsent } from "../../api/client";
import { profileConsentQuery } from "../../api/queries";
import { DateTime } from "../../components/DateTime";
import { ErrorState } from "../../components/States";

const CHANNELS = [
  ["email", "Email"],
  ["sms", "SMS"],
] as const;

/** The profile's consent per channel (whether marketing may be sent there) and its history,
 * with the evidence kept for each change. */
export function ProfileConsent({ profileId }: { profileId: string }) {
  const consent = useQuery(profileConsentQuery(profileId));
  if (consent.isPending) {
    return (
      <Text size="sm" c="dimmed">
        Loading…
      </Text>
    );
  }
  if (consent.isError) {
    return <ErrorState error={consent.error} onRetry={() => void consent.refetch()} />;
  }
  const { history } = consent.data;
  return (
    <Stack gap="sm">
      <Group gap="lg" aria-label="Consent by channel">
        {CHANNELS.map(([key, label]) => (
          <ChannelState key={key} label={label} state={consent.data[key]} />
        ))}
      </Group>
      {history.length === 0 ? (
        <Text size="sm" c="dimmed">
          No consent records yet.
        </Text>
      ) : (
        <Table fz="sm" aria-label="Consent history">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>When</Table.Th>
              <Table.Th>Channel</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th>How</Table.Th>
              <Table.Th>Evidence</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {history.map((record) => (
              <Table.Tr key={record.id}>
                <Table.Td>
                  <DateTime value={record.recorded_at} />
                </Table.Td>
                <Table.Td>{record.channel === "sms" ? "SMS" : "Email"}</Table.Td>
                <Table.Td>{record.status}</Table.Td>
                <Table.Td>{record.method}</Table.Td>
                <Table.Td>
                  <Text size="xs">
                    {[
                      record.consent_text && `“${record.consent_text}”`,
                      record.address,
                      record.ip_address && `IP ${record.ip_address}`,
                      record.user_agent,
                      record.page_url,
                      `by ${record.source}`,
                    ]
                      .filter(Boolean)
                      .join(" · ")}
                  </Text>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}

function ChannelState({ label, state }: { label: string; state: ChannelConsent }) {
  const color = state.can_receive_marketing ? "teal" : "gray";
  const text = state.can_receive_marketing ? "may receive marketing" : "no marketing";
  return (
    <Stack gap={2}>
      <Group gap="xs">
        <Text size="sm" fw={500}>
          {label}
        </Text>
        <Badge color={color} variant="light" tt="none">
          {text}
        </Badge>
      </Group>
      <Text size="xs" c="dimmed">
        {state.status === "none" ? "nothing recorded" : state.status}
        {state.since && (
          <>
            {" "}
            since <DateTime value={state.since} />
          </>
        )}
        {state.suppressed && " · on the suppression list"}
      </Text>
    </Stack>
  );
}
