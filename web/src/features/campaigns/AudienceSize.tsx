/** How many people the chosen segments reach right now: each included segment's size, and the
 * segments' own estimate of the audience (people in several segments once, excluded ones out). */
import { Alert, Group, List, Loader, Stack, Text } from "@mantine/core";
import { IconAlertTriangle } from "@tabler/icons-react";
import { api, call, type Segment } from "../../api/client";
import { errorMessage } from "../../api/errors";
import { keys } from "../../api/queries";
import { useDebouncedRequest } from "../../components/useDebouncedRequest";
import { formatCount } from "../../lib/format";
import type { Definition } from "../segments/definition";
import { SegmentStatusBadge } from "../segments/SegmentStatusBadge";
import { audienceDefinition } from "./form";

export const AUDIENCE_DELAY_MS = 400;

function useEstimate(definition: Definition | null) {
  return useDebouncedRequest({
    request: definition,
    delay: AUDIENCE_DELAY_MS,
    queryKey: keys.segmentEstimate,
    queryFn: (wanted: Definition) => call(api.POST("/api/segments/estimate", { body: { definition: wanted } })),
  });
}

export function AudienceSize({
  include,
  exclude,
  segments,
}: {
  include: readonly string[];
  exclude: readonly string[];
  segments: readonly Segment[];
}) {
  const audience = useEstimate(audienceDefinition(include, exclude, false));
  const reachable = useEstimate(audienceDefinition(include, exclude, true));
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
  const error = audience.query.error ?? reachable.query.error;
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
        <Group gap="xs" align="baseline">
          <Text fw={700} fz="xl" data-testid="audience-estimate">
            {audience.query.data ? formatCount(audience.query.data.count) : "…"}
          </Text>
          <Text size="sm" c="dimmed">
            {audience.query.data?.count === 1 ? "person" : "people"} in the audience right now
            {reachable.query.data && (
              <>
                , <span data-testid="audience-reachable">{formatCount(reachable.query.data.count)}</span> of them can
                receive marketing email
              </>
            )}
          </Text>
          {(audience.updating || reachable.updating) && <Loader size="xs" aria-label="Counting the audience" />}
        </Group>
      )}
      <Text size="xs" c="dimmed">
        When it is sent, Herald leaves out people without an address, suppressed addresses, people who withdrew consent
        and, with smart sending, people emailed recently.
      </Text>
    </Stack>
  );
}
