import { Badge, Group, Tooltip } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import type { Profile } from "../../api/client";
import { profileConsentQuery } from "../../api/queries";
import { channelBadge } from "./status";

/** The profile's email and SMS status at a glance: suppressed, unsubscribed, subscribed. */
export function ProfileStatusBadges({ profile }: { profile: Profile }) {
  const consent = useQuery(profileConsentQuery(profile.id));
  if (!consent.data) return null;
  const badges = [
    channelBadge("email", consent.data.email, profile.email),
    channelBadge("sms", consent.data.sms, profile.phone),
  ];
  return (
    <Group gap="xs" mb="md" aria-label="Channel status" role="list">
      {badges.map((badge) => (
        <Tooltip key={badge.label} label={badge.detail}>
          <Badge role="listitem" color={badge.color} variant="light" tt="none">
            {badge.label}
          </Badge>
        </Tooltip>
      ))}
    </Group>
  );
}
