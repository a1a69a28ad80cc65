/** How many people the campaign reaches right now: each included segment's size, and the
 * API's count of the audience by the snapshot's own rules (people in several segments once,
 * excluded ones out, and why the others would be skipped). */
import { Alert, Group, List, Loader, Stack, Text } from "@mantine/core";
import { IconAlertTriangle } from "@tabler/icons-react";
import { api, call, type Schemas, type Segment } from "../../api/client";
import { errorMessage } from "../../api/errors";
import { keys } from "../../api/queries";
import { useDebouncedRequest } from "../../components/useDebouncedRequest";
import { formatCount } from "../../lib/format";
import { SegmentStatusBadge } from "../segments/SegmentStatusBadge";

export const AUDIENCE_DELAY_MS = 400;

type AudienceRequest = Schemas["AudienceRequest"];

const SKIP_LABELS: Record<string, string> = {
  no_email: "without an email address",
  suppressed: "suppressed",
  no_consent: "withdrew consent",
  smart_sending: "emailed recently (smart sending)",
};

/** "2 without an email address, 1 suppressed", in a stable order. */
export function skippedSummary(skipped: Record<string, number>): string {
  return Object.keys(SKIP_LABELS)
    .filter((reason) => (skipped[reason] ?? 0) > 0)
    .map((reason) => `${formatCount(skipped[reason] ?? 0)} ${SKIP_LABELS[reason]}`)
    .join(", ");
}

export function AudienceSize({
  include,
  exclude,
  smartSending,
  smartSendingHours,
  segments,
  channel = "email",
}: {
  include: readonly string[];
  exclude: readonly string[];
  smartSending: boolean;
  smartSendingHours: number;
  segments: readonly Segment[];
  channel?: "email" | "sms";
}) {
  const request: AudienceRequest | null =
    include.length === 0 || !(smartSendingHours >= 1)
      ? null
      : {
          include_segment_ids: [...include],
          exclude_segment_ids: [...exclude],
          smart_sending: smartSending,
          smart_sending_hours: smartSendingHours,
          channel,
        };
  const audience = useDebouncedRequest({
    request,
    delay: AUDIENCE_DELAY_MS,
    queryKey: keys.campaignAudience,
    queryFn: (body: AudienceRequest) => call(api.POST("/api/campaigns/audience", { body })),
  });
  const byId = new Map(segments.map((s) => [s.id, s]));
  const included = include.map((id) => byId.get(id)).filter((s): s is Segment => s !== undefined);
  const upperBound = included.reduce((sum, s) => sum + s.member_count, 0);

  if (include.length === 0) {
    return (
      <Text size="sm" c="dimmed" data-testid="audience-size">
        Choose at least one segment to send to.
      </Text>
    );
  }
  const error = audience.query.error;
  const size = audience.query.data;
  return (
    <Stack gap={6} aria-live="polite" data-testid="audience-size">
      <List size="sm" spacing={2}>
        {included.map((segment) => (
          <List.Item key={segment.id}>
            <Group gap={6}>
              <Text size="sm">
                {segment.name}: {formatCount(segment.member_count)} {segment.member_count === 1 ? "member" : "members"}
              </Text>
              {segment.status === "computing" && <SegmentStatusBadge segment={segment} />}
            </Group>
          </List.Item>
        ))}
      </List>
      {included.length > 1 && (
        <Text size="xs" c="dimmed" data-testid="audience-upper-bound">
          At most {formatCount(upperBound)} (the included segments' sizes added up; a person in several of them gets one
          email).
        </Text>
      )}
      {error ? (
        <Alert color="orange" variant="light" icon={<IconAlertTriangle aria-hidden />} p="xs">
          The audience could not be counted: {errorMessage(error)}
        </Alert>
      ) : (
        <Stack gap={2}>
          <Group gap="xs" align="baseline">
            <Text fw={700} fz="xl" data-testid="audience-estimate">
              {size ? formatCount(size.eligible) : "…"}
            </Text>
            <Text size="sm" c="dimmed">
              {size?.eligible === 1 ? "person" : "people"} would get it if it went now
              {size && (
                <>
                  {" "}
                  (of <span data-testid="audience-total">{formatCount(size.total)}</span> in the segments)
                </>
              )}
            </Text>
            {audience.updating && <Loader size="xs" aria-label="Counting the audience" />}
          </Group>
          {size && skippedSummary(size.skipped) && (
            <Text size="xs" c="dimmed" data-testid="audience-skipped">
              Left out: {skippedSummary(size.skipped)}.
            </Text>
          )}
        </Stack>
      )}
      <Text size="xs" c="dimmed">
        Counted from the segments&apos; current members. The audience is fixed when sending starts.
      </Text>
    </Stack>
  );
}
