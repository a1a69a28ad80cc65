import { Anchor, Badge, Button, Group, Select, Table, Text, TextInput } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { IconPlus, IconSearch, IconUpload, IconUsers } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { useCallback, useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import type { Profile } from "../../api/client";
import { profileCountQuery, profilesQuery, segmentCatalogQuery, segmentsQuery } from "../../api/queries";
import { DataTable, DateCell } from "../../components/DataTable";
import { DownloadButton } from "../../components/DownloadButton";
import { PageHeader } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { QueryList } from "../../components/QueryResult";
import { EmptyState } from "../../components/States";
import { useCursorPages } from "../../components/useCursorPages";
import { formatCount, profileLabel } from "../../lib/format";
import { subjectOptions } from "../segments/definition";
import { profilesExportHref } from "./form";
import {
  addressParams,
  apiQuery,
  countText,
  LIST_OPERATORS,
  needsValue,
  readFilter,
  type ListOperator,
  type ProfileListFilter,
} from "./listFilter";
import { NewProfileModal } from "./NewProfileModal";

export function ProfilesPage() {
  const [params, setParams] = useSearchParams();
  const filter = readFilter(params);
  const [text, setText] = useState(filter.q);
  const [value, setValue] = useState(filter.value);
  const [debouncedText] = useDebouncedValue(text, 300);
  const [debouncedValue] = useDebouncedValue(value, 300);
  const catalog = useQuery(segmentCatalogQuery);
  const segments = useQuery(segmentsQuery);
  const subjects = subjectOptions(catalog.data);
  const numberProperty =
    filter.subject.startsWith("property:") &&
    subjects.properties.some((p) => `property:${p.name}` === filter.subject && p.type === "number");
  const query = apiQuery(filter, numberProperty);
  // Paging starts over whenever a filter changes.
  const pages = useCursorPages(JSON.stringify(query));

  // The filters live in the address, so they survive reloads and can be shared.
  const change = useCallback(
    (next: Partial<ProfileListFilter>) => setParams(addressParams({ ...filter, ...next }), { replace: true }),
    [filter, setParams],
  );
  useEffect(() => {
    if (debouncedText.trim() !== filter.q) change({ q: debouncedText });
  }, [debouncedText, filter.q, change]);
  useEffect(() => {
    if (debouncedValue !== filter.value) change({ value: debouncedValue });
  }, [debouncedValue, filter.value, change]);

  const profiles = useQuery(profilesQuery(query, pages.cursor));
  const count = useQuery(profileCountQuery(query));
  const [creating, setCreating] = useState(false);
  const filtered = Object.keys(query).length > 0;

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
            <DownloadButton href={profilesExportHref(query)}>Export CSV</DownloadButton>
            <Button variant="default" component={Link} to="/imports" leftSection={<IconUpload size={16} aria-hidden />}>
              Import
            </Button>
          </>
        }
      />
      <NewProfileModal opened={creating} onClose={() => setCreating(false)} />
      <Group align="flex-end" gap="sm" mb="md" wrap="wrap">
        <TextInput
          label="Search profiles"
          description="Email, phone, name, id, city, country or a property's value"
          placeholder="ada@example.com, Berlin"
          leftSection={<IconSearch size={16} aria-hidden />}
          value={text}
          onChange={(event) => setText(event.currentTarget.value)}
          w={340}
          type="search"
        />
        <Select
          label="In segment"
          placeholder="Any"
          clearable
          searchable
          w={220}
          data={(segments.data?.data ?? []).map((s) => ({ value: s.id, label: s.name }))}
          value={filter.segment || null}
          onChange={(segment) => change({ segment: segment ?? "" })}
        />
        <Select
          label="Where"
          placeholder="A field or property"
          clearable
          searchable
          w={200}
          data={subjects.data}
          value={filter.subject || null}
          onChange={(subject) => {
            if (!subject) setValue("");
            change({ subject: subject ?? "", value: subject ? filter.value : "" });
          }}
        />
        {filter.subject && (
          <>
            <Select
              label="Operator"
              w={150}
              allowDeselect={false}
              data={LIST_OPERATORS}
              value={filter.op}
              onChange={(op) => op && change({ op: op as ListOperator })}
            />
            {needsValue(filter.op) && (
              <TextInput
                label="Value"
                w={180}
                value={value}
                onChange={(event) => setValue(event.currentTarget.value)}
              />
            )}
          </>
        )}
      </Group>
      {count.isSuccess && (
        <Text size="sm" c="dimmed" mb="xs" data-testid="profile-count" aria-live="polite">
          {countText(count.data, formatCount)}
          {filtered ? " match" + (count.data.count === 1 && count.data.exact ? "es" : "") : ""}
        </Text>
      )}
      <QueryList
        query={profiles}
        loading="Loading profiles…"
        empty={
          filtered ? (
            <EmptyState title="No profile matches" icon={<IconSearch aria-hidden />}>
              Nothing matches these filters. Search looks at email, phone, external id, name, city, region,
              country, ZIP and the values of custom properties.
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
