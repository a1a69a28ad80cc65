/** One campaign: its status and what can be done in it, the progress while it sends, the stats
 * (with the A/B variants side by side), its settings and its recipients. */
import {
  Anchor,
  Badge,
  Button,
  Grid,
  Group,
  Menu,
  Paper,
  Progress,
  SimpleGrid,
  Stack,
  Table,
  Text,
} from "@mantine/core";
import { notifications } from "@mantine/notifications";
import {
  IconCalendarTime,
  IconCalendarX,
  IconChevronDown,
  IconCopy,
  IconEdit,
  IconMailForward,
  IconPlayerPause,
  IconPlayerPlay,
  IconSend,
  IconSettings,
  IconTrash,
  IconUsers,
  IconX,
  type Icon,
} from "@tabler/icons-react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type ReactNode } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { api, call, type Campaign, type CampaignRecipient, type CampaignStats } from "../../api/client";
import { errorMessage } from "../../api/errors";
import {
  campaignQuery,
  campaignRecipientsQuery,
  campaignStatsQuery,
  keys,
  segmentsQuery,
  templatesQuery,
} from "../../api/queries";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { DataTable, DateCell } from "../../components/DataTable";
import { DateTime } from "../../components/DateTime";
import { FilterSelect } from "../../components/FilterSelect";
import { LabeledValue } from "../../components/LabeledValue";
import { PageBreadcrumbs } from "../../components/PageBreadcrumbs";
import { PageHeader } from "../../components/PageHeader";
import { QueryList, QueryResult } from "../../components/QueryResult";
import { EmptyState, NotFoundState } from "../../components/States";
import { useConfirmMutation } from "../../components/useConfirmMutation";
import { useCursorPages } from "../../components/useCursorPages";
import { formatCount } from "../../lib/format";
import { CampaignLinks } from "../analytics/CampaignLinks";
import { ABTestSection } from "./ABTestSection";
import { CampaignStatusBadge } from "./CampaignStatusBadge";
import { Section } from "../../components/Section";
import { ScheduleDialog, TestSendDialog } from "./CampaignDialogs";
import { AudienceForecast, AudienceSize } from "./AudienceSize";
import { CampaignPreviewSection } from "./CampaignPreviewSection";
import {
  canDo,
  isLive,
  LIVE_REFRESH_MS,
  progressOf,
  progressText,
  RECIPIENT_STATUSES,
  recipientStatusColor,
  recipientStatusLabel,
  skipReasonLabel,
  statCards,
} from "./status";
import { postAction, remember, useDuplicateCampaign, type StatusAction } from "./useCampaignActions";

export function CampaignPage() {
  const { campaignId = "" } = useParams();
  const campaign = useQuery({
    ...campaignQuery(campaignId),
    refetchInterval: (query) => (query.state.data && isLive(query.state.data.status) ? LIVE_REFRESH_MS : false),
  });
  return (
    <>
      <PageBreadcrumbs links={[{ to: "/campaigns", label: "Campaigns" }]} current={campaign.data?.name ?? "Campaign"} />
      <QueryResult query={campaign} loading="Loading the campaign…" notFound={<NotFoundState thing="campaign" />}>
        {(data) => <CampaignDetails campaign={data} />}
      </QueryResult>
    </>
  );
}

/** The actions that need no confirmation, as buttons. */
const QUICK_ACTIONS: readonly { action: "unschedule" | "pause" | "resume"; label: string; Icon: Icon; primary?: boolean }[] = [
  { action: "unschedule", label: "Unschedule", Icon: IconCalendarX },
  { action: "pause", label: "Pause", Icon: IconPlayerPause },
  { action: "resume", label: "Resume", Icon: IconPlayerPlay, primary: true },
];

type Dialog = null | "send" | "cancel" | "delete" | "schedule" | "test";

/** What the confirmation of each action says, and what its button is called. */
const CONFIRMATIONS: Readonly<Record<"send" | "cancel", { title: string; label: string; text: (c: Campaign) => string }>> = {
  send: {
    title: "Send this campaign now?",
    label: "Send now",
    text: (c) =>
      `Herald takes the audience of “${c.name}” as it is now and starts sending at once${
        c.ab_test ? ", beginning with the A/B test pool" : ""
      }. This cannot be undone, but you can pause or cancel it while it sends.`,
  },
  cancel: {
    title: "Cancel this campaign?",
    label: "Cancel campaign",
    text: (c) =>
      `Nobody else gets “${c.name}”: recipients not sent to yet are cancelled. A message a worker is handing to the provider at this moment still goes.`,
  },
};

function CampaignDetails({ campaign }: { campaign: Campaign }) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [dialog, setDialog] = useState<Dialog>(null);
  const duplicate = useDuplicateCampaign();
  const close = () => setDialog(null);
  const act = (action: StatusAction) => postAction(action, campaign.id);

  // Pause, resume and unschedule go at once; send and cancel are confirmed first.
  const quick = useMutation({
    mutationFn: act,
    onSuccess: (saved) => remember(queryClient, saved),
    onError: (error) => {
      notifications.show({ color: "red", title: "Not done", message: errorMessage(error) });
      void queryClient.invalidateQueries({ queryKey: keys.campaign(campaign.id) });
    },
  });
  const confirmed = useConfirmMutation({
    mutationFn: act,
    onSuccess: (saved, closeDialog) => {
      remember(queryClient, saved);
      closeDialog();
    },
    onClose: close,
  });
  const remove = useConfirmMutation({
    mutationFn: () =>
      call(api.DELETE("/api/campaigns/{campaign_id}", { params: { path: { campaign_id: campaign.id } } })),
    onSuccess: () => {
      queryClient.removeQueries({ queryKey: keys.campaign(campaign.id) });
      void queryClient.invalidateQueries({ queryKey: keys.campaignsAll, exact: true });
      notifications.show({ color: "teal", message: `Campaign “${campaign.name}” was deleted.` });
      void navigate("/campaigns");
    },
    onClose: close,
  });

  // Each change of status (sent at last, say) brings the stats and the recipients up to date.
  const previousStatus = useRef(campaign.status);
  useEffect(() => {
    if (previousStatus.current !== campaign.status) remember(queryClient, campaign);
    previousStatus.current = campaign.status;
  }, [campaign, queryClient]);

  const can = (action: Parameters<typeof canDo>[1]) => canDo(campaign.status, action);
  const confirmation = dialog === "send" || dialog === "cancel" ? CONFIRMATIONS[dialog] : null;

  return (
    <>
      <PageHeader
        title={campaign.name}
        description={<StatusLine campaign={campaign} />}
        actions={
          <>
            {can("send") && (
              <Button leftSection={<IconSend size={16} aria-hidden />} onClick={() => setDialog("send")}>
                Send now
              </Button>
            )}
            {can("schedule") && (
              <Button variant="default" leftSection={<IconCalendarTime size={16} aria-hidden />} onClick={() => setDialog("schedule")}>
                Schedule
              </Button>
            )}
            {QUICK_ACTIONS.filter((quickAction) => can(quickAction.action)).map(({ action, label, Icon, primary }) => (
              <Button
                key={action}
                variant={primary ? "filled" : "default"}
                leftSection={<Icon size={16} aria-hidden />}
                loading={quick.isPending && quick.variables === action}
                onClick={() => quick.mutate(action)}
              >
                {label}
              </Button>
            ))}
            {can("edit") && (
              <Button component={Link} to={`/campaigns/${campaign.id}/edit`} variant="default" leftSection={<IconEdit size={16} aria-hidden />}>
                Edit
              </Button>
            )}
            <Menu position="bottom-end">
              <Menu.Target>
                <Button variant="default" rightSection={<IconChevronDown size={16} aria-hidden />}>
                  More
                </Button>
              </Menu.Target>
              <Menu.Dropdown>
                <Menu.Item leftSection={<IconMailForward size={16} aria-hidden />} onClick={() => setDialog("test")}>
                  Send a test
                </Menu.Item>
                <Menu.Item leftSection={<IconCopy size={16} aria-hidden />} onClick={() => duplicate.mutate(campaign.id)}>
                  Duplicate
                </Menu.Item>
                {!can("edit") && (
                  <Menu.Item leftSection={<IconSettings size={16} aria-hidden />} component={Link} to={`/campaigns/${campaign.id}/edit`}>
                    View settings
                  </Menu.Item>
                )}
                {can("cancel") && (
                  <Menu.Item color="red" leftSection={<IconX size={16} aria-hidden />} onClick={() => setDialog("cancel")}>
                    Cancel campaign
                  </Menu.Item>
                )}
                {can("delete") && (
                  <Menu.Item color="red" leftSection={<IconTrash size={16} aria-hidden />} onClick={() => setDialog("delete")}>
                    Delete
                  </Menu.Item>
                )}
              </Menu.Dropdown>
            </Menu>
          </>
        }
      />
      <Stack gap="lg">
        {campaign.status !== "draft" && <ProgressSection campaign={campaign} />}
        {campaign.status !== "draft" && campaign.status !== "scheduled" && <StatsSection campaign={campaign} />}
        {campaign.ab_test && <ABTestSection campaign={campaign} />}
        {campaign.status !== "draft" && campaign.status !== "scheduled" && <CampaignLinks campaignId={campaign.id} />}
        {campaign.status === "draft" || campaign.status === "scheduled" ? (
          <>
            <Grid gap="lg">
              <Grid.Col span={{ base: 12, md: 6 }}>
                <AudienceSection campaign={campaign} />
              </Grid.Col>
              <Grid.Col span={{ base: 12, md: 6 }}>
                <SettingsSection campaign={campaign} />
              </Grid.Col>
            </Grid>
            {/* Full width, so that the 600 px desktop email is not clipped. */}
            <CampaignPreviewSection campaign={campaign} />
            <RecipientsSection campaign={campaign} />
          </>
        ) : (
          <Grid gap="lg">
            <Grid.Col span={{ base: 12, md: 4 }}>
              <SettingsSection campaign={campaign} />
            </Grid.Col>
            <Grid.Col span={{ base: 12, md: 8 }}>
              <RecipientsSection campaign={campaign} />
            </Grid.Col>
          </Grid>
        )}
      </Stack>
      {confirmation && (
        <ConfirmDialog
          opened
          title={confirmation.title}
          confirmLabel={confirmation.label}
          {...confirmed.dialog}
          onConfirm={() => confirmed.mutate(dialog as StatusAction)}
        >
          <Stack gap="sm">
            <Text size="sm">{confirmation.text(campaign)}</Text>
            {dialog === "send" && <AudienceForecast campaign={campaign} />}
          </Stack>
        </ConfirmDialog>
      )}
      <ConfirmDialog
        opened={dialog === "delete"}
        title="Delete this campaign?"
        confirmLabel="Delete campaign"
        {...remove.dialog}
        onConfirm={() => remove.mutate()}
      >
        “{campaign.name}”, its recipients and its stats are deleted for good. Messages already sent stay in the outbox and
        on each person's timeline.
      </ConfirmDialog>
      <ScheduleDialog campaign={campaign} opened={dialog === "schedule"} onClose={close} />
      <TestSendDialog campaign={campaign} opened={dialog === "test"} onClose={close} />
    </>
  );
}

function StatusLine({ campaign }: { campaign: Campaign }) {
  let when: ReactNode = null;
  if (campaign.status === "scheduled" && campaign.local_send_at) {
    when = (
      <>
        at {campaign.local_send_at.replace("T", " ").slice(0, 16)} in each recipient's time zone (first time zone{" "}
        <DateTime value={campaign.scheduled_at} />)
      </>
    );
  } else if (campaign.status === "scheduled") {
    when = (
      <>
        for <DateTime value={campaign.scheduled_at} />
      </>
    );
  } else if (campaign.status === "sending" || campaign.status === "paused") {
    when = (
      <>
        started <DateTime value={campaign.started_at} relative />
      </>
    );
  } else if (campaign.status === "sent" || campaign.status === "cancelled") {
    when = <DateTime value={campaign.finished_at ?? campaign.updated_at} />;
  } else {
    when = (
      <>
        last changed <DateTime value={campaign.updated_at} relative />
      </>
    );
  }
  return (
    <Group gap={6} component="span">
      <CampaignStatusBadge status={campaign.status} />
      <Text span size="sm" c="dimmed">
        {when}
      </Text>
    </Group>
  );
}

/** The stats, read again every moment while the campaign is live. The progress and the stat
 * tiles both show this one answer, so their numbers agree. */
function useLiveStats(campaign: Campaign) {
  return useQuery({
    ...campaignStatsQuery(campaign.id),
    refetchInterval: isLive(campaign.status) ? LIVE_REFRESH_MS : false,
  });
}

function ProgressSection({ campaign }: { campaign: Campaign }) {
  const stats = useLiveStats(campaign);
  const counts = stats.data?.counts ?? campaign.counts;
  const progress = progressOf(counts);
  const snapshotting = campaign.status === "sending" && !campaign.audience_at;
  return (
    <Section title="Progress">
      <Stack gap="xs">
        <Progress.Root size="xl" aria-label="Sending progress" data-testid="campaign-progress" data-done={progress.done} data-total={progress.total}>
          {progress.parts.map((part) => (
            <Progress.Section key={part.key} value={part.percent} color={part.color} animated={campaign.status === "sending" && part.key === "queued"}>
              {part.percent >= 8 && <Progress.Label>{formatCount(part.count)}</Progress.Label>}
            </Progress.Section>
          ))}
        </Progress.Root>
        <Text size="sm" data-testid="campaign-progress-text">
          {progressText(campaign.status, snapshotting, progress)}
        </Text>
        <Group gap="md">
          {Object.entries(counts)
            .sort(([a], [b]) => RECIPIENT_STATUSES.indexOf(a as never) - RECIPIENT_STATUSES.indexOf(b as never))
            .map(([status, count]) => (
              <Group key={status} gap={4}>
                <Badge variant="dot" color={recipientStatusColor(status)}>
                  {recipientStatusLabel(status)}
                </Badge>
                <Text size="sm" data-testid={`count-${status}`}>
                  {formatCount(count)}
                </Text>
              </Group>
            ))}
        </Group>
        {campaign.status === "paused" && (
          <Text size="sm" c="orange">
            Paused: no new messages go out until you resume it.
          </Text>
        )}
      </Stack>
    </Section>
  );
}

function StatsSection({ campaign }: { campaign: Campaign }) {
  const stats = useLiveStats(campaign);
  return (
    <Section title="Stats">
      <QueryResult query={stats} loading="Loading the stats…">
        {(data) => <StatCards stats={data} />}
      </QueryResult>
    </Section>
  );
}

function StatCards({ stats }: { stats: CampaignStats }) {
  return (
    <Stack gap="xs">
      <SimpleGrid cols={{ base: 2, sm: 3, lg: 5 }} spacing="sm">
        {statCards(stats, stats.conversion_metric).map((card) => (
          <Paper key={card.label} withBorder p="sm" radius="sm" data-testid="stat-card" role="group" aria-label={card.label}>
            <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
              {card.label}
            </Text>
            <Text fz={26} fw={700} lh={1.2} data-testid="stat-value">
              {card.value}
            </Text>
            {card.detail && (
              <Text size="xs" c="dimmed">
                {card.detail}
              </Text>
            )}
          </Paper>
        ))}
      </SimpleGrid>
      <Text size="xs" c="dimmed">
        Rates are of the messages sent. Opens and clicks leave out machine opens (mail privacy proxies). Conversions are
        attributed to the last email opened or clicked within 5 days before them.
      </Text>
    </Stack>
  );
}

/** A draft's (or a scheduled campaign's) audience, counted live as the editor counts it. */
function AudienceSection({ campaign }: { campaign: Campaign }) {
  const segments = useQuery(segmentsQuery);
  return (
    <Section title="Audience">
      <AudienceSize
        include={campaign.include_segment_ids}
        exclude={campaign.exclude_segment_ids}
        smartSending={campaign.smart_sending}
        smartSendingHours={campaign.smart_sending_hours}
        segments={segments.data?.data ?? []}
        channel={campaign.channel}
      />
    </Section>
  );
}

function SettingsSection({ campaign }: { campaign: Campaign }) {
  const segments = useQuery(segmentsQuery);
  const templates = useQuery(templatesQuery);
  const segmentName = new Map((segments.data?.data ?? []).map((s) => [s.id, s.name]));
  const template = (templates.data?.data ?? []).find((t) => t.id === campaign.template_id);
  const segmentLinks = (ids: readonly string[]) =>
    ids.length === 0 ? (
      "None"
    ) : (
      <Stack gap={0}>
        {ids.map((id) => (
          <Anchor key={id} component={Link} to={`/segments/${id}`} size="sm">
            {segmentName.get(id) ?? "A deleted segment"}
          </Anchor>
        ))}
      </Stack>
    );
  return (
    <Section title="Settings">
      <Stack gap="sm">
        <LabeledValue label="Send to">{segmentLinks(campaign.include_segment_ids)}</LabeledValue>
        <LabeledValue label="Leave out">{segmentLinks(campaign.exclude_segment_ids)}</LabeledValue>
        <LabeledValue label="Template">
          {campaign.template_id ? (
            <Anchor component={Link} to={`/templates/${campaign.template_id}`} size="sm">
              {template?.name ?? "The template"}
            </Anchor>
          ) : (
            "None chosen yet"
          )}
        </LabeledValue>
        <LabeledValue label="Subject">{campaign.subject ?? template?.subject ?? "The template's"}</LabeledValue>
        <LabeledValue label="From">
          {campaign.from_name || campaign.from_email
            ? [campaign.from_name, campaign.from_email && `<${campaign.from_email}>`].filter(Boolean).join(" ")
            : "The template's sender, or the default"}
        </LabeledValue>
        <LabeledValue label="Smart sending">
          {campaign.smart_sending ? `On: skips people emailed in the last ${campaign.smart_sending_hours} hours` : "Off"}
        </LabeledValue>
        <LabeledValue label="Send-time optimization">
          {campaign.send_time_optimization ? "On: each person at their best hour within 24 hours" : "Off"}
        </LabeledValue>
        <LabeledValue label="Conversions">“{campaign.conversion_metric}”</LabeledValue>
        {campaign.local_send_at && (
          <LabeledValue label="Local time">
            {campaign.local_send_at.replace("T", " ").slice(0, 16)} in each recipient's time zone; up to{" "}
            {campaign.local_grace_minutes ?? 0} minutes late still goes at once
          </LabeledValue>
        )}
        <Text size="xs" c="dimmed">
          Created <DateTime value={campaign.created_at} relative />
          {campaign.audience_at && (
            <>
              ; audience taken <DateTime value={campaign.audience_at} relative />
            </>
          )}
        </Text>
      </Stack>
    </Section>
  );
}

const RECIPIENT_STATUS_OPTIONS = RECIPIENT_STATUSES.map((status) => ({ value: status, label: recipientStatusLabel(status) }));

function RecipientsSection({ campaign }: { campaign: Campaign }) {
  const [status, setStatus] = useState<"" | (typeof RECIPIENT_STATUSES)[number]>("");
  const pages = useCursorPages(status);
  const recipients = useQuery({
    ...campaignRecipientsQuery(campaign.id, status, pages.cursor),
    refetchInterval: isLive(campaign.status) ? LIVE_REFRESH_MS : false,
  });
  return (
    <Section
      title="Recipients"
      actions={
        <FilterSelect label="Status" w={220} anyLabel="Any status" options={RECIPIENT_STATUS_OPTIONS} value={status} onChange={setStatus} />
      }
    >
      <QueryList
        query={recipients}
        loading="Loading recipients…"
        framed={false}
        pager={pages.pager}
        empty={
          <EmptyState title={status ? `No ${recipientStatusLabel(status).toLowerCase()} recipients` : "No recipients yet"} icon={<IconUsers aria-hidden />}>
            {campaign.status === "draft" || campaign.status === "scheduled"
              ? "Herald takes the audience when sending starts: each person becomes a recipient then."
              : "Nobody is in this list."}
          </EmptyState>
        }
      >
        {(items) => <RecipientsTable recipients={items} abTest={campaign.ab_test !== null} />}
      </QueryList>
    </Section>
  );
}

function RecipientsTable({ recipients, abTest }: { recipients: CampaignRecipient[]; abTest: boolean }) {
  return (
    <DataTable
      label="Recipients"
      minWidth={720}
      columns={["Email", abTest && "Variant", "Status", "Engagement", "Goes at", "Message"]}
    >
      {recipients.map((recipient) => (
        <Table.Tr key={recipient.profile_id}>
          <Table.Td>
            <Anchor component={Link} to={`/profiles/${recipient.profile_id}`} size="sm" style={{ overflowWrap: "anywhere" }}>
              {recipient.email ?? "(no address)"}
            </Anchor>
          </Table.Td>
          {abTest && (
            <Table.Td>
              <Text size="sm">{recipient.variant ?? "—"}</Text>
            </Table.Td>
          )}
          <Table.Td>
            <Badge variant="light" color={recipientStatusColor(recipient.status)} data-testid="recipient-status">
              {recipientStatusLabel(recipient.status)}
            </Badge>
            {recipient.skip_reason && (
              <Text size="xs" c="dimmed">
                {skipReasonLabel(recipient.skip_reason)}
              </Text>
            )}
          </Table.Td>
          <Table.Td data-testid="recipient-engagement">
            <Engagement recipient={recipient} />
          </Table.Td>
          <DateCell value={recipient.scheduled_for} />
          <Table.Td>
            {recipient.message_id ? (
              <Anchor component={Link} to={`/messages/${recipient.message_id}`} size="sm">
                View message
              </Anchor>
            ) : (
              <Text size="sm" c="dimmed">
                —
              </Text>
            )}
          </Table.Td>
        </Table.Tr>
      ))}
    </DataTable>
  );
}

/** Whether the person opened or clicked the message (human opens and clicks, as the stats count
 * them), or unsubscribed from it. */
function Engagement({ recipient }: { recipient: CampaignRecipient }) {
  const badges = [
    recipient.opened && { label: "Opened", color: "teal" },
    recipient.clicked && { label: "Clicked", color: "blue" },
    recipient.unsubscribed && { label: "Unsubscribed", color: "orange" },
  ].filter((badge): badge is { label: string; color: string } => Boolean(badge));
  if (badges.length === 0) {
    return (
      <Text size="sm" c="dimmed">
        {recipient.status === "sent" || recipient.status === "delivered" ? "Not opened" : "—"}
      </Text>
    );
  }
  return (
    <Group gap={4}>
      {badges.map((badge) => (
        <Badge key={badge.label} size="sm" variant="light" color={badge.color}>
          {badge.label}
        </Badge>
      ))}
    </Group>
  );
}
