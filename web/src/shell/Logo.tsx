import { Group, Text, ThemeIcon } from "@mantine/core";
import { IconSpeakerphone } from "@tabler/icons-react";
import { Link } from "react-router";

export function Logo() {
  return (
    <Link to="/" style={{ textDecoration: "none", color: "inherit" }} aria-label="Herald home">
      <Group gap={8} wrap="nowrap">
        <ThemeIcon size="md" radius="md" aria-hidden>
          <IconSpeakerphone size={18} />
        </ThemeIcon>
        <Text fw={700} size="lg" component="span">
          Herald
        </Text>
      </Group>
    </Link>
  );
}
