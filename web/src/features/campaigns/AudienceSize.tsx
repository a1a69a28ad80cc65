/** How many people the campaign reaches right now: each included segment's size, and the
 * API's count of the audience by the snapshot's own rules (people in several segments once,
 * excluded ones out, and why the others would be skipped). */
import { Alert, Group, List, Loader, Stack, Text } from "@mantine/core";
import { IconAlertTriangle } from "@tabler/icons-react";
import { type Campaign, type Schemas, type Segment } from "../../api/client";
import { errorMessage } from "../../api/errors";
import { useQuery } from "@tanstack/react-query";
import { campaignAudienceQuery, fetchAudience, keys } from "../../api/queries";
import { useDebouncedRequest } from "../../components/useDebouncedRequest";
import { formatCount } from "../../lib/format";
import { SegmentStatusBadge } from "../segments/SegmentStatusBadge";
import { skippedParts, skippedSummary } from "./status";

export const AUDIENCE_DELAY_MS = 400;

type AudienceRequest = Schemas["AudienceRequest"];
type Audience = Schemas["Audience"];

/** What to ask `POST /api/campaigns/audience` about these settings; null when there is nothing
 * to count yet. The editor and the campaign page ask in the same words, so they share answers. */
export function audienceRequest({
  include,
  exclude,
  smartSending,
  smartSendingHours,
  channel = "email",
}: {
  include: readonly string[];
  exclude: readonly string[];
  smartSending: boolean;
  smartSendingHours: number;
  channel?: "email" | "sms";
}): AudienceRequest | null {
  if (include.length === 0 || !(smartSendingHours >= 1)) return null;
  return {
    include_segment_ids: [...include],
    exclude_segment_ids: [...exclude],
    smart_sending: smartSending,
    smart_sending_hours: smartSendingHours,
    channel,
  };
}

/** A saved campaign's audience question. */
export function campaignAudienceRequest(campaign: Campaign): AudienceRequest | null {
  return audienceRequest({
    include: campaign.include_segment_ids,
    exclude: campaign.exclude_segment_ids,
    smartSending: campaign.smart_sending,
    smartSendingHours: campaign.smart_sending_hours,
    channel: campaign.channel,
  });
}

/** Everyone in the chosen segments who would not get it, by reason: the snapshot's reasons and
 * the members of an excluded segment. */
export function leftOutByReason(audience: Audience): Record<string, number> {
  return { excluded_segment: audience.excluded, ...audience.skipped };
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
  const request = audienceRequest({ include, exclude, smartSending, smartSendingHours, channel });
  const audience = useDebouncedRequest({
    request,
    delay: AUDIENCE_DELAY_MS,
    queryKey: keys.campaignAudience,
    queryFn: fetchAudience,
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
                  (of <span data-testid="audience-total">{formatCount(size.total + size.excluded)}</span> in the segments)
                </>
              )}
            </Text>
            {audience.updating && <Loader size="xs" aria-label="Counting the audience" />}
          </Group>
          {size && skippedSummary(leftOutByReason(size)) && (
            <Text size="xs" c="dimmed" data-testid="audience-skipped">
              Left out: {skippedSummary(leftOutByReason(size))}.
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

/** How many people a saved campaign reaches and how many it leaves out, and why: the send-now and
 * schedule confirmations say it before anyone commits. Counted by the snapshot's own rules now;
 * a scheduled campaign's audience is taken when it starts. */
export function AudienceForecast({ campaign, scheduled = false }: { campaign: Campaign; scheduled?: boolean }) {
  const request = campaignAudienceRequest(campaign);
  const audience = useQuery({ ...campaignAudienceQuery(request ?? EMPTY_REQUEST), enabled: request !== null });
  if (request === null) {
    return (
      <Text size="sm" c="orange" data-testid="audience-forecast">
        No segment is chosen: nobody would get it.
      </Text>
    );
  }
  if (audience.isError) {
    return (
      <Text size="sm" c="orange" data-testid="audience-forecast">
        The audience could not be counted: {errorMessage(audience.error)}
      </Text>
    );
  }
  if (!audience.data) {
    return (
      <Group gap="xs" data-testid="audience-forecast">
        <Loader size="xs" aria-hidden />
        <Text size="sm">Counting the audience…</Text>
      </Group>
    );
  }
  const { eligible, total } = audience.data;
  const parts = skippedParts(leftOutByReason(audience.data));
  const leftOut = parts.reduce((sum, part) => sum + part.count, 0);
  const people = (n: number) => `${formatCount(n)} ${n === 1 ? "person" : "people"}`;
  return (
    <Stack gap={4} data-testid="audience-forecast">
      <Text size="sm" fw={600} data-testid="forecast-eligible">
        {scheduled ? `${people(eligible)} would get it if it went now` : `${people(eligible)} will get it`}
        {` (of ${formatCount(total + audience.data.excluded)} in the chosen segments).`}
      </Text>
      {leftOut > 0 ? (
        <>
          <Text size="sm" data-testid="forecast-left-out">
            {people(leftOut)} left out:
          </Text>
          <List size="sm" spacing={0}>
            {parts.map((part) => (
              <List.Item key={part.reason}>{part.text}</List.Item>
            ))}
          </List>
        </>
      ) : (
        <Text size="sm" data-testid="forecast-left-out">
          Nobody in the segments is left out.
        </Text>
      )}
      {scheduled && (
        <Text size="xs" c="dimmed">
          The audience is taken again when sending starts, from the segments as they are then.
        </Text>
      )}
    </Stack>
  );
}

const EMPTY_REQUEST: AudienceRequest = { include_segment_ids: [], exclude_segment_ids: [], channel: "email", smart_sending: true };
