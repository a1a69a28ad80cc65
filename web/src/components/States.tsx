/** The loading, empty and error states every screen uses. */
import { Alert, Button, Center, EmptyState as MantineEmptyState, Group, Loader, Stack, Text } from "@mantine/core";
import { IconAlertTriangle, IconInbox } from "@tabler/icons-react";
import type { ReactNode } from "react";
import { errorMessage } from "../api/errors";
import { PageHeader } from "./PageHeader";

export function LoadingState({ label, fullPage = false }: { label: string; fullPage?: boolean }) {
  return (
    <Center mih={fullPage ? "100vh" : 160} role="status" aria-live="polite">
      <Group gap="sm">
        <Loader size="sm" aria-hidden />
        <Text c="dimmed">{label}</Text>
      </Group>
    </Center>
  );
}

export function ErrorState({
  error,
  onRetry,
  title = "This could not be loaded",
  fullPage = false,
}: {
  error: unknown;
  onRetry?: () => void;
  title?: string;
  fullPage?: boolean;
}) {
  const alert = (
    <Alert color="red" variant="light" title={title} icon={<IconAlertTriangle aria-hidden />} role="alert">
      <Stack gap="xs" align="flex-start">
        <Text size="sm">{errorMessage(error)}</Text>
        {onRetry && (
          <Button size="xs" variant="default" onClick={onRetry}>
            Try again
          </Button>
        )}
      </Stack>
    </Alert>
  );
  return fullPage ? (
    <Center mih="100vh" p="md">
      {alert}
    </Center>
  ) : (
    alert
  );
}

export function EmptyState({
  title,
  children,
  action,
  icon,
}: {
  title: string;
  children?: ReactNode;
  action?: ReactNode;
  icon?: ReactNode;
}) {
  return (
    <MantineEmptyState
      py="xl"
      title={title}
      description={children}
      icon={icon ?? <IconInbox aria-hidden />}
      withIndicatorBackground
    >
      {action && <MantineEmptyState.Actions>{action}</MantineEmptyState.Actions>}
    </MantineEmptyState>
  );
}

/**
 * A detail screen whose address names nothing: "Segment not found" as the heading, then
 * "There is no such segment" (or `title`) and why.
 */
export function NotFoundState({
  thing,
  title = `There is no such ${thing}`,
  children = "It may have been deleted, or the address is wrong.",
}: {
  /** What the address should have named, in lower case: "segment". */
  thing: string;
  title?: string;
  children?: ReactNode;
}) {
  return (
    <>
      <PageHeader title={`${thing.charAt(0).toUpperCase()}${thing.slice(1)} not found`} />
      <EmptyState title={title}>{children}</EmptyState>
    </>
  );
}
