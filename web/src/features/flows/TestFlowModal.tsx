/** "Test with a profile": the path a person would take through the draft now, with the emails
 * and webhook bodies rendered for them (POST /api/flows/{id}/test). Nothing is sent or stored. */
import { Alert, Badge, Button, Code, Group, Modal, Paper, Stack, Text } from "@mantine/core";
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { api, call, type Profile } from "../../api/client";
import { errorMessage } from "../../api/errors";
import { EmailFrame } from "../../components/EmailFrame";
import { FormErrors } from "../../components/FormErrors";
import { JsonTextarea } from "../../components/JsonTextarea";
import { isJsonObject, parseJson } from "../../lib/json";
import { ProfilePicker } from "../templates/TemplatePreviewPane";
import type { FlowTestResult } from "./types";

export function TestFlowModal({
  flowId,
  opened,
  onClose,
  stepNames,
}: {
  flowId: string;
  opened: boolean;
  onClose: () => void;
  stepNames: Record<string, string>;
}) {
  const [profile, setProfile] = useState<Profile | null>(null);
  const [payload, setPayload] = useState("{}");
  const parsed = parseJson(payload);
  const payloadError = "error" in parsed ? parsed.error : isJsonObject(parsed.value) ? null : "A JSON object, such as {\"value\": 42}";
  const trial = useMutation({
    mutationFn: (): Promise<FlowTestResult> =>
      call(
        api.POST("/api/flows/{flow_id}/test", {
          params: { path: { flow_id: flowId } },
          body: { profile_id: profile!.id, payload: "value" in parsed ? (parsed.value as Record<string, unknown>) : {} },
        }),
      ),
  });
  return (
    <Modal opened={opened} onClose={onClose} title="Test with a profile" size="xl">
      <Stack>
        <Text size="sm" c="dimmed">
          The path this person would take through the draft now, with its emails rendered for them. Nothing is sent,
          stored or changed; delays and waits are shown, not waited for.
        </Text>
        <Group align="flex-end">
          <ProfilePicker value={profile} onChange={setProfile} />
          <Button disabled={!profile || payloadError !== null} loading={trial.isPending} onClick={() => trial.mutate()}>
            Test
          </Button>
        </Group>
        <JsonTextarea
          label="Trigger event properties (or API payload)"
          value={payload}
          onChange={(e) => setPayload(e.currentTarget.value)}
          error={payloadError}
          maxRows={6}
        />
        {trial.isError && <FormErrors messages={[errorMessage(trial.error)]} />}
        {trial.data && <TrialResult result={trial.data} stepNames={stepNames} />}
      </Stack>
    </Modal>
  );
}

function TrialResult({ result, stepNames }: { result: FlowTestResult; stepNames: Record<string, string> }) {
  if (!result.enters) {
    return (
      <Alert color="yellow" variant="light" title="Would not enter">
        {result.reason ?? "The profile does not match the flow's filters now."}
      </Alert>
    );
  }
  return (
    <Stack gap="xs" aria-label="Trial path">
      {result.path.map((step, index) => (
        <Paper key={`${step.step_id}-${index}`} withBorder p="xs">
          <Group gap="xs">
            <Text size="sm" fw={600}>
              {stepNames[step.step_id] ?? step.step_id}
            </Text>
            <Badge size="sm" variant="light">
              {step.outcome}
            </Badge>
          </Group>
          {step.detail && (
            <Text size="xs" c="dimmed">
              {step.detail}
            </Text>
          )}
          {step.rendered && (
            <Stack gap={4} mt="xs">
              <Text size="sm">
                Subject: <strong>{step.rendered.subject}</strong>
              </Text>
              <EmailFrame html={step.rendered.html} title={`Email of ${step.step_id}`} height={320} />
            </Stack>
          )}
          {step.sms_body && (
            <Text size="sm" mt="xs" p="xs" bg="gray.1" style={{ whiteSpace: "pre-wrap", borderRadius: 12 }} data-testid="test-sms-body">
              {step.sms_body}
            </Text>
          )}
          {step.webhook_body && <Code block>{step.webhook_body}</Code>}
        </Paper>
      ))}
    </Stack>
  );
}
