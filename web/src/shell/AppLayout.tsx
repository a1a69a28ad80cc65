/** The frame around every signed-in screen: header, navigation and the screen itself. */
import {
  Anchor,
  AppShell,
  Avatar,
  Badge,
  Burger,
  Group,
  Menu,
  NavLink,
  ScrollArea,
  Stack,
  Text,
  UnstyledButton,
} from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { IconChevronDown, IconKey, IconLogout } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { Link, Outlet, useLocation } from "react-router";
import { useCurrentUser, useSignOut } from "../auth/session";
import { metricsQuery } from "../api/queries";
import { GROUPS, isInArea, visibleAreas } from "./navigation";
import { Logo } from "./Logo";
import { SetupNotices } from "./SetupNotices";

export function AppLayout() {
  const [opened, { toggle, close }] = useDisclosure();
  return (
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 240, breakpoint: "sm", collapsed: { mobile: !opened } }}
      padding="lg"
    >
      <AppShell.Header>
        <SkipLink />
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger
              opened={opened}
              onClick={toggle}
              hiddenFrom="sm"
              size="sm"
              aria-label={opened ? "Close navigation" : "Open navigation"}
            />
            <Logo />
          </Group>
          <UserMenu />
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="sm" aria-label="Main navigation">
        <AppShell.Section grow component={ScrollArea}>
          <Navigation onNavigate={close} />
        </AppShell.Section>
      </AppShell.Navbar>
      <AppShell.Main id="content" tabIndex={-1}>
        <SetupNotices />
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}

/** The first thing the keyboard reaches: straight to the screen, past the navigation. */
function SkipLink() {
  return (
    <Anchor href="#content" className="skip-link">
      Skip to content
    </Anchor>
  );
}

function Navigation({ onNavigate }: { onNavigate: () => void }) {
  const location = useLocation();
  // "Send your first event" leaves the navigation once the organization has events.
  const metrics = useQuery(metricsQuery);
  const areas = visibleAreas(metrics.data ? metrics.data.data.length > 0 : undefined);
  return (
    <Stack gap="md" component="nav" aria-label="Areas">
      {GROUPS.map((group) => (
        <Stack gap={2} key={group}>
          <Text size="xs" fw={700} c="dimmed" tt="uppercase" px="sm" component="h2" m={0}>
            {group}
          </Text>
          {areas.filter((area) => area.group === group).map((area) => {
            const active = isInArea(area, location.pathname);
            const Icon = area.icon;
            return (
              <NavLink
                key={area.path}
                component={Link}
                to={area.path}
                label={area.label}
                active={active}
                aria-current={active ? "page" : undefined}
                leftSection={<Icon size={18} stroke={1.6} aria-hidden />}
                rightSection={
                  area.planned ? (
                    <Badge size="xs" variant="light" color="gray">
                      soon
                    </Badge>
                  ) : undefined
                }
                onClick={onNavigate}
              />
            );
          })}
        </Stack>
      ))}
    </Stack>
  );
}

function UserMenu() {
  const me = useCurrentUser();
  const signOut = useSignOut();
  const name = me.user?.name || me.user?.email || "Signed in";
  return (
    <Menu position="bottom-end" width={240}>
      <Menu.Target>
        <UnstyledButton aria-label={`Account menu for ${name}`}>
          <Group gap="xs" wrap="nowrap">
            <Avatar size="sm" radius="xl" color="blue" name={name} />
            <Stack gap={0} visibleFrom="xs">
              <Text size="sm" fw={500} lh={1.2}>
                {name}
              </Text>
              <Text size="xs" c="dimmed" lh={1.2}>
                {me.organization.name} · {me.role}
              </Text>
            </Stack>
            <IconChevronDown size={14} aria-hidden />
          </Group>
        </UnstyledButton>
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Label>{me.user?.email}</Menu.Label>
        <Menu.Item component={Link} to="/settings/account" leftSection={<IconKey size={16} aria-hidden />}>
          Change password
        </Menu.Item>
        <Menu.Item
          leftSection={<IconLogout size={16} aria-hidden />}
          onClick={() => signOut.mutate()}
          disabled={signOut.isPending}
        >
          Sign out
        </Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}
