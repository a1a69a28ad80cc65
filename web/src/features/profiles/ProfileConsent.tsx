import { Badge, Button, Group, Select, Stack, Table, Text, TextInput } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, call, type ChannelConsent } from "../../api/client";
import { errorMessage } from "../../api/errors";
import { keys, profileConsentQuery } from "../../api/queries";
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
      <RecordConsent profileId={profileId} />
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

/** Record consent the person gave or withdrew outside Herald (on the phone, on paper): kept
 * with the method "dashboard" and the words they agreed to. */
function RecordConsent({ profileId }: { profileId: string }) {
  const queryClient = useQueryClient();
  const [channel, setChannel] = useState<"email" | "sms">("sms");
  const [status, setStatus] = useState<"subscribed" | "unsubscribed">("subscribed");
  const [text, setText] = useState("");
  const record = useMutation({
    mutationFn: () =>
      call(
        api.POST("/api/profiles/{profile_id}/consent", {
          params: { path: { profile_id: profileId } },
          body: { channel, status, method: "dashboard", ...(text.trim() ? { text: text.trim() } : {}) },
        }),
      ),
    onSuccess: (saved) => {
      queryClient.setQueryData(keys.profileConsent(profileId), saved);
      setText("");
      notifications.show({ color: "teal", message: "Consent recorded." });
    },
    onError: (error) => notifications.show({ color: "red", message: errorMessage(error) }),
  });
  return (
    <Group gap="xs" align="flex-end" aria-label="Record consent" role="group">
      <Select
        label="Channel"
        w={110}
        allowDeselect={false}
        data={[
          { value: "sms", label: "SMS" },
          { value: "email", label: "Email" },
        ]}
        value={channel}
        onChange={(value) => setChannel(value === "email" ? "email" : "sms")}
      />
      <Select
        label="Status"
        w={150}
        allowDeselect={false}
        data={["subscribed", "unsubscribed"]}
        value={status}
        onChange={(value) => setStatus(value === "unsubscribed" ? "unsubscribed" : "subscribed")}
      />
      <TextInput
        label="What they agreed to"
        placeholder="Optional"
        style={{ flex: 1, minWidth: 180 }}
        value={text}
        onChange={(event) => setText(event.currentTarget.value)}
      />
      <Button variant="default" loading={record.isPending} onClick={() => record.mutate()}>
        Record
      </Button>
    </Group>
  );
}
