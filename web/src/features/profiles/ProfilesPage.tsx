import { Anchor, Badge, Button, Group, Table, Text, TextInput } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { IconPlus, IconSearch, IconUpload, IconUsers } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import type { Profile } from "../../api/client";
import { profilesQuery } from "../../api/queries";
import { DataTable, DateCell } from "../../components/DataTable";
import { DownloadButton } from "../../components/DownloadButton";
import { PageHeader } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { QueryList } from "../../components/QueryResult";
import { EmptyState } from "../../components/States";
import { useCursorPages } from "../../components/useCursorPages";
import { profileLabel } from "../../lib/format";
import { profilesExportHref } from "./form";
import { NewProfileModal } from "./NewProfileModal";

export function ProfilesPage() {
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const [text, setText] = useState(q);
  const [debounced] = useDebouncedValue(text, 300);
  // Paging starts over whenever the search changes.
  const pages = useCursorPages(q);

  // The search lives in the address, so it survives reloads and can be shared.
  useEffect(() => {
    const trimmed = debounced.trim();
    if (trimmed !== q) {
      setParams(trimmed ? { q: trimmed } : {}, { replace: true });
    }
  }, [debounced, q, setParams]);

  const profiles = useQuery(profilesQuery(q, pages.cursor));
  const [creating, setCreating] = useState(false);

  return (
    <>
      <PageHeader
        title="Profiles"
        description="Everyone Herald knows: people identified by email, phone or your own id, and anonymous visitors."
        actions={
          <>
            <Button leftSection={<IconPlus size={16} aria-hidden />} onClick={() => setCreating(true)}>
              New profile
            </Button>
            <DownloadButton href={profilesExportHref(q)}>Export CSV</DownloadButton>
            <Button variant="default" component={Link} to="/imports" leftSection={<IconUpload size={16} aria-hidden />}>
              Import
            </Button>
          </>
        }
      />
      <NewProfileModal opened={creating} onClose={() => setCreating(false)} />
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
      <QueryList
        query={profiles}
        loading="Loading profiles…"
        empty={
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
        }
      >
        {(items) => <ProfilesTable profiles={items} />}
      </QueryList>
      {/* Shown on an empty page too, so that there is a way back. */}
      {profiles.isSuccess && <Pager {...pages.pager(profiles.data.next_cursor, profiles.isFetching)} />}
    </>
  );
}

function ProfilesTable({ profiles }: { profiles: Profile[] }) {
  return (
    <DataTable label="Profiles" minWidth={720} columns={["Name", "Email", "Phone", "External id", "Created"]}>
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
          <DateCell value={profile.created_at} />
        </Table.Tr>
      ))}
    </DataTable>
  );
}
