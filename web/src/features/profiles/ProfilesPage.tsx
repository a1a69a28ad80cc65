import { Anchor, Badge, Button, Group, Paper, Table, Text, TextInput } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { IconSearch, IconUsers } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import type { Profile } from "../../api/client";
import { profilesQuery } from "../../api/queries";
import { DateTime } from "../../components/DateTime";
import { PageHeader } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { EmptyState, ErrorState, LoadingState } from "../../components/States";
import { profileLabel } from "../../lib/format";
import {
  type CursorPages,
  currentCursor,
  FIRST_PAGE,
  hasPreviousPage,
  nextPage,
  pageNumber,
  previousPage,
} from "../../lib/paging";

export function ProfilesPage() {
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const [text, setText] = useState(q);
  const [debounced] = useDebouncedValue(text, 300);
  // Paging starts over whenever the search changes.
  const [paging, setPaging] = useState({ q, pages: FIRST_PAGE });
  const pages = paging.q === q ? paging.pages : FIRST_PAGE;
  const setPages = (change: (current: CursorPages) => CursorPages) =>
    setPaging({ q, pages: change(pages) });

  // The search lives in the address, so it survives reloads and can be shared.
  useEffect(() => {
    const trimmed = debounced.trim();
    if (trimmed !== q) {
      setParams(trimmed ? { q: trimmed } : {}, { replace: true });
    }
  }, [debounced, q, setParams]);

  const profiles = useQuery(profilesQuery(q, currentCursor(pages)));

  return (
    <>
      <PageHeader
        title="Profiles"
        description="Everyone Herald knows: people identified by email, phone or your own id, and anonymous visitors."
      />
      <TextInput
        label="Search profiles"
        description="By email, phone, name or external id"
        placeholder="ada@example.com"
        leftSection={<IconSearch size={16} aria-hidden />}
        value={text}
        onChange={(event) => setText(event.currentTarget.value)}
        maw={480}
        mb="md"
        type="search"
      />
      {profiles.isPending ? (
        <LoadingState label="Loading profiles…" />
      ) : profiles.isError ? (
        <ErrorState error={profiles.error} onRetry={() => void profiles.refetch()} />
      ) : profiles.data.data.length === 0 ? (
        q ? (
          <EmptyState title="No profile matches" icon={<IconSearch aria-hidden />}>
            Nothing matches “{q}”. Search looks at email, phone, external id and name.
          </EmptyState>
        ) : (
          <EmptyState
            title="No profiles yet"
            icon={<IconUsers aria-hidden />}
            action={
              <Button component={Link} to="/get-started">
                Send your first event
              </Button>
            }
          >
            Profiles appear when your site or app identifies people or sends events.
          </EmptyState>
        )
      ) : (
        <Paper withBorder>
          <ProfilesTable profiles={profiles.data.data} />
        </Paper>
      )}
      {profiles.isSuccess && (
        <Pager
          page={pageNumber(pages)}
          hasPrevious={hasPreviousPage(pages)}
          hasNext={Boolean(profiles.data.next_cursor)}
          busy={profiles.isFetching}
          onPrevious={() => setPages(previousPage)}
          onNext={() => setPages((current) => nextPage(current, profiles.data.next_cursor))}
        />
      )}
    </>
  );
}

function ProfilesTable({ profiles }: { profiles: Profile[] }) {
  return (
    <Table.ScrollContainer minWidth={720}>
      <Table highlightOnHover verticalSpacing="sm" aria-label="Profiles">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Email</Table.Th>
            <Table.Th>Phone</Table.Th>
            <Table.Th>External id</Table.Th>
            <Table.Th>Created</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {profiles.map((profile) => (
            <Table.Tr key={profile.id}>
              <Table.Td>
                <Group gap="xs" wrap="nowrap">
                  <Anchor component={Link} to={`/profiles/${profile.id}`} fw={500}>
                    {profileLabel(profile)}
                  </Anchor>
                  {profile.anonymous && (
                    <Badge size="xs" variant="light" color="gray">
                      anonymous
                    </Badge>
                  )}
                </Group>
              </Table.Td>
              <Table.Td>
                <Text size="sm">{profile.email ?? "—"}</Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm">{profile.phone ?? "—"}</Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm">{profile.external_id ?? "—"}</Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm">
                  <DateTime value={profile.created_at} />
                </Text>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
