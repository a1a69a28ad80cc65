import { Anchor, Badge, Box, Grid, Group, Paper, Stack, Text, Title, Tooltip } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { Link, useParams } from "react-router";
import type { Profile } from "../../api/client";
import { profileQuery, profileSegmentsQuery } from "../../api/queries";
import { DateTime } from "../../components/DateTime";
import { PageBreadcrumbs } from "../../components/PageBreadcrumbs";
import { PageHeader } from "../../components/PageHeader";
import { PropertiesTable } from "../../components/PropertiesTable";
import { QueryResult } from "../../components/QueryResult";
import { ErrorState, NotFoundState } from "../../components/States";
import { formatDateTime, profileLabel } from "../../lib/format";
import { ProfileFlows } from "../flows/ProfileFlows";
import { ProfileActions } from "./ProfileActions";
import { ProfileConsent } from "./ProfileConsent";
import { ProfileSms } from "./ProfileSms";
import { ProfileStatusBadges } from "./ProfileStatusBadges";
import { ProfileTimeline } from "./ProfileTimeline";

export function ProfilePage() {
  const { profileId = "" } = useParams();
  const profile = useQuery(profileQuery(profileId));
  return (
    <>
      <PageBreadcrumbs
        links={[{ to: "/profiles", label: "Profiles" }]}
        current={profile.data ? profileLabel(profile.data) : "Profile"}
      />
      <QueryResult
        query={profile}
        loading="Loading the profile…"
        notFound={
          <NotFoundState thing="profile">
            It may have been erased, or the address is wrong.
          </NotFoundState>
        }
      >
        {(data) => <ProfileDetails profile={data} />}
      </QueryResult>
    </>
  );
}

function ProfileDetails({ profile }: { profile: Profile }) {
  return (
    <>
      <PageHeader
        title={profileLabel(profile)}
        description={
          <>
            Created <DateTime value={profile.created_at} />, updated <DateTime value={profile.updated_at} />.
          </>
        }
        actions={
          <>
            {profile.anonymous ? (
              <Badge color="gray" variant="light">
                Anonymous
              </Badge>
            ) : (
              <Badge color="teal" variant="light">
                Identified
              </Badge>
            )}
            <ProfileActions profile={profile} />
          </>
        }
      />
      <ProfileStatusBadges profile={profile} />
      <Grid gap="lg">
        <Grid.Col span={{ base: 12, md: 5 }}>
          <Stack gap="lg">
            <Section title="Identifiers">
              <Facts
                facts={[
                  ["Email", profile.email],
                  ["Phone", profile.phone],
                  ["External id", profile.external_id],
                  ["First name", profile.first_name],
                  ["Last name", profile.last_name],
                  ["Time zone", profile.timezone],
                  ["Herald id", profile.id],
                ]}
              />
            </Section>
            <Section title="Segments">
              <ProfileSegments profileId={profile.id} />
            </Section>
            <Section title="Flows">
              <ProfileFlows profileId={profile.id} />
            </Section>
            <Section title="Location">
              <Location profile={profile} />
            </Section>
            <Section title="Consent">
              <ProfileConsent profileId={profile.id} />
            </Section>
            <Section title="SMS conversation">
              <ProfileSms profileId={profile.id} />
            </Section>
            <Section title="Properties">
              <PropertiesTable
                properties={profile.properties}
                caption="Custom properties"
                empty="No custom properties."
              />
            </Section>
          </Stack>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 7 }}>
          <Section title="Timeline">
            <ProfileTimeline profileId={profile.id} />
          </Section>
        </Grid.Col>
      </Grid>
    </>
  );
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <Paper withBorder p="md" component="section" aria-label={title}>
      <Title order={2} fz="h4" mb="sm">
        {title}
      </Title>
      {children}
    </Paper>
  );
}

function Facts({ facts }: { facts: [string, string | null | undefined][] }) {
  return (
    <Box
      component="dl"
      m={0}
      style={{ display: "grid", gridTemplateColumns: "max-content minmax(0, 1fr)", gap: "6px 16px" }}
    >
      {facts.map(([label, value]) => (
        <FactRow key={label} label={label} value={value} />
      ))}
    </Box>
  );
}

function FactRow({ label, value }: { label: string; value: string | null | undefined }) {
  return (
    <>
      <Text size="sm" c="dimmed" component="dt">
        {label}
      </Text>
      <Text size="sm" component="dd" m={0} style={{ overflowWrap: "anywhere" }}>
        {value || "—"}
      </Text>
    </>
  );
}

function Location({ profile }: { profile: Profile }) {
  const location = profile.location;
  const lines = [
    location.address1,
    location.address2,
    [location.zip, location.city].filter(Boolean).join(" "),
    location.region,
    location.country,
  ].filter((line): line is string => Boolean(line));
  const coordinates =
    location.latitude != null && location.longitude != null
      ? `${location.latitude}, ${location.longitude}`
      : null;
  if (lines.length === 0 && !coordinates) {
    return (
      <Text size="sm" c="dimmed">
        No location.
      </Text>
    );
  }
  return (
    <Stack gap={2}>
      {lines.map((line) => (
        <Text size="sm" key={line}>
          {line}
        </Text>
      ))}
      {coordinates && (
        <Group gap={4}>
          <Text size="sm" c="dimmed">
            Coordinates
          </Text>
          <Text size="sm">{coordinates}</Text>
        </Group>
      )}
    </Stack>
  );
}

function ProfileSegments({ profileId }: { profileId: string }) {
  const segments = useQuery(profileSegmentsQuery(profileId));
  if (segments.isPending) {
    return (
      <Text size="sm" c="dimmed">
        Loading…
      </Text>
    );
  }
  if (segments.isError) {
    return <ErrorState error={segments.error} onRetry={() => void segments.refetch()} />;
  }
  if (segments.data.data.length === 0) {
    return (
      <Text size="sm" c="dimmed">
        Not in any segment.
      </Text>
    );
  }
  return (
    <Group gap="xs" component="ul" m={0} p={0} style={{ listStyle: "none" }} aria-label="Segments of this profile">
      {segments.data.data.map((segment) => (
        <li key={segment.id}>
          <Tooltip label={<>Joined {formatDateTime(segment.entered_at)}</>} openDelay={300}>
            <Anchor component={Link} to={`/segments/${segment.id}`} size="sm">
              <Badge variant="light" tt="none" style={{ cursor: "pointer" }}>
                {segment.name}
              </Badge>
            </Anchor>
          </Tooltip>
        </li>
      ))}
    </Group>
  );
}
