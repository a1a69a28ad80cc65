/** Create (/segments/new) and edit (/segments/:segmentId/edit) a segment. */
import {
  Alert,
  Button,
  Grid,
  Group,
  List,
  Loader,
  Paper,
  Stack,
  Text,
  Textarea,
  TextInput,
  Title,
} from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconAlertTriangle } from "@tabler/icons-react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { api, call, type Segment } from "../../api/client";
import { ApiError, errorMessage } from "../../api/errors";
import { keys, segmentCatalogQuery, segmentQuery, segmentsQuery } from "../../api/queries";
import { FormErrors } from "../../components/FormErrors";
import { PageBreadcrumbs } from "../../components/PageBreadcrumbs";
import { PageHeader } from "../../components/PageHeader";
import { CreateOrEdit } from "../../components/QueryResult";
import { useDebouncedRequest } from "../../components/useDebouncedRequest";
import { formatCount } from "../../lib/format";
import {
  countConditions,
  definitionProblems,
  emptyDefinition,
  MAX_CONDITIONS,
  placeErrors,
  toEditable,
  type Definition,
  type PlacedErrors,
} from "./definition";
import { SegmentBuilder } from "./SegmentBuilder";

export const ESTIMATE_DELAY_MS = 600;

export function SegmentEditorPage() {
  const { segmentId } = useParams();
  const segment = useQuery({ ...segmentQuery(segmentId ?? ""), enabled: Boolean(segmentId) });
  return (
    <CreateOrEdit id={segmentId} query={segment} thing="segment">
      {(existing) => <SegmentForm segment={existing} />}
    </CreateOrEdit>
  );
}

function SegmentForm({ segment }: { segment?: Segment }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [name, setName] = useState(segment?.name ?? "");
  const [description, setDescription] = useState(segment?.description ?? "");
  const [definition, setDefinition] = useState<Definition>(() =>
    segment ? toEditable(segment.definition) : emptyDefinition(),
  );
  const [nameError, setNameError] = useState<string | null>(null);
  const [formErrors, setFormErrors] = useState<string[]>([]);
  // The API's reasons about the definition as saved; they go when the definition changes.
  const [saveErrors, setSaveErrors] = useState<{ definition: Definition; placed: PlacedErrors } | null>(null);
  const catalog = useQuery(segmentCatalogQuery);
  const segments = useQuery(segmentsQuery);
  const conditionCount = countConditions(definition);
  // What the conditions still lack, found in the browser: such a definition is not estimated
  // (it could only be refused) and its problems show once a condition is left or a save tried.
  const problems = useMemo(() => definitionProblems(definition), [definition]);
  const complete = conditionCount > 0 && Object.keys(problems).length === 0;
  const [saveTried, setSaveTried] = useState(false);
  const {
    query: estimate,
    current: estimateCurrent,
    updating: estimateUpdating,
  } = useDebouncedRequest({
    request: complete ? definition : null,
    delay: ESTIMATE_DELAY_MS,
    queryKey: keys.segmentEstimate,
    queryFn: (wanted: Definition) => call(api.POST("/api/segments/estimate", { body: { definition: wanted } })),
  });
  const estimateErrors =
    estimate.isError && estimate.error instanceof ApiError && estimate.error.status === 422 && estimateCurrent
      ? placeErrors(estimate.error.fields)
      : null;
  const shownErrors =
    saveErrors && saveErrors.definition === definition ? saveErrors.placed : estimateErrors;

  const save = useMutation({
    mutationFn: async () => {
      const body = { name: name.trim(), description: description.trim() || null, definition };
      if (segment) {
        return call(
          api.PATCH("/api/segments/{segment_id}", { params: { path: { segment_id: segment.id } }, body }),
        );
      }
      return call(api.POST("/api/segments", { body }));
    },
    onSuccess: (saved) => {
      queryClient.setQueryData(keys.segment(saved.id), saved);
      void queryClient.invalidateQueries({ queryKey: keys.segmentsAll });
      notifications.show({ color: "teal", message: `Segment “${saved.name}” saved. Herald is computing its members.` });
      void navigate(`/segments/${saved.id}`);
    },
    onError: (error) => {
      if (!(error instanceof ApiError) || error.fields.length === 0) {
        setFormErrors([errorMessage(error)]);
        return;
      }
      const placed = placeErrors(error.fields);
      setSaveErrors({ definition, placed });
      const nameProblem = placed.other.find((p) => p.field === "name");
      if (nameProblem) setNameError(sentence(nameProblem.reason));
      const rest = placed.other.filter((p) => p.field !== "name").map((p) => `${p.field}: ${sentence(p.reason)}`);
      const inDefinition = Object.keys(placed.byCondition).length;
      setFormErrors(
        inDefinition ? ["Some conditions need attention: see the messages under them.", ...rest] : rest,
      );
    },
  });

  const submit = () => {
    setFormErrors([]);
    setNameError(null);
    if (!name.trim()) {
      setNameError("Give the segment a name.");
      return;
    }
    if (conditionCount === 0) {
      setFormErrors(["Add at least one condition."]);
      return;
    }
    setSaveTried(true);
    if (!complete) {
      setFormErrors(["Some conditions need attention: see the messages under them."]);
      return;
    }
    save.mutate();
  };

  const title = segment ? `Edit ${segment.name}` : "New segment";
  return (
    <>
      <PageBreadcrumbs
        links={[
          { to: "/segments", label: "Segments" },
          segment && { to: `/segments/${segment.id}`, label: segment.name },
        ]}
        current={segment ? "Edit" : "New"}
      />
      <PageHeader
        title={title}
        description="Choose who belongs: combine conditions on profile properties, events, other segments and consent. The estimate shows how many people match right now."
      />
      <form
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          submit();
        }}
      >
        <Grid gap="lg">
          <Grid.Col span={{ base: 12, lg: 9 }}>
            <Stack gap="md">
              <Paper withBorder p="md">
                <Stack gap="sm">
                  <TextInput
                    label="Name"
                    required
                    maw={480}
                    value={name}
                    error={nameError}
                    onChange={(event) => {
                      setName(event.currentTarget.value);
                      setNameError(null);
                    }}
                  />
                  <Textarea
                    label="Description"
                    description="Optional: what the segment is for"
                    maw={720}
                    autosize
                    minRows={1}
                    maxLength={2000}
                    value={description}
                    onChange={(event) => setDescription(event.currentTarget.value)}
                  />
                </Stack>
              </Paper>
              <section aria-labelledby="builder-title">
                <Group justify="space-between" mb="xs">
                  <Title order={2} fz="h4" id="builder-title">
                    Who is in it
                  </Title>
                  <Text size="xs" c={conditionCount >= MAX_CONDITIONS ? "red" : "dimmed"}>
                    {conditionCount} of {MAX_CONDITIONS} conditions
                  </Text>
                </Group>
                <SegmentBuilder
                  definition={definition}
                  onChange={setDefinition}
                  catalog={catalog.data}
                  segments={segments.data?.data ?? []}
                  selfId={segment?.id}
                  errors={shownErrors?.byCondition ?? {}}
                  problems={problems}
                  showAllProblems={saveTried}
                />
              </section>
              <FormErrors messages={formErrors} />
              <Group>
                <Button type="submit" loading={save.isPending}>
                  {segment ? "Save changes" : "Save segment"}
                </Button>
                <Button variant="default" component={Link} to={segment ? `/segments/${segment.id}` : "/segments"}>
                  Cancel
                </Button>
              </Group>
            </Stack>
          </Grid.Col>
          <Grid.Col span={{ base: 12, lg: 3 }}>
            <EstimatePanel
              empty={conditionCount === 0}
              incomplete={conditionCount > 0 && !complete}
              pending={estimateUpdating}
              count={estimate.isError ? undefined : estimate.data?.count}
              error={estimate.isError ? estimate.error : null}
              placed={estimateErrors}
            />
          </Grid.Col>
        </Grid>
      </form>
    </>
  );
}

function EstimatePanel({
  empty,
  incomplete,
  pending,
  count,
  error,
  placed,
}: {
  empty: boolean;
  incomplete: boolean;
  pending: boolean;
  count: number | undefined;
  error: unknown;
  placed: PlacedErrors | null;
}) {
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="estimate-title" pos="sticky" top={72}>
      <Group justify="space-between" mb="xs">
        <Title order={2} fz="h5" id="estimate-title">
          Estimated size
        </Title>
        {pending && !empty && !incomplete && <Loader size="xs" aria-label="Updating the estimate" />}
      </Group>
      <div aria-live="polite">
        {empty ? (
          <Text size="sm" c="dimmed">
            Add a condition to see how many people match.
          </Text>
        ) : incomplete ? (
          <Text size="sm" c="dimmed" data-testid="estimate-incomplete">
            Finish the conditions to see how many people match.
          </Text>
        ) : error ? (
          <Alert color="orange" variant="light" icon={<IconAlertTriangle aria-hidden />} p="xs" data-testid="estimate-error">
            <Text size="sm">Not complete yet:</Text>
            <List size="sm">
              {estimateMessages(error, placed).map((message) => (
                <List.Item key={message}>{message}</List.Item>
              ))}
            </List>
          </Alert>
        ) : count === undefined ? (
          <Text size="sm" c="dimmed">
            Counting…
          </Text>
        ) : (
          <>
            <Text fz={32} fw={700} lh={1.1} data-testid="segment-estimate">
              {formatCount(count)}
            </Text>
            <Text size="sm" c="dimmed">
              {count === 1 ? "profile matches" : "profiles match"} right now
            </Text>
          </>
        )}
      </div>
    </Paper>
  );
}

function estimateMessages(error: unknown, placed: PlacedErrors | null): string[] {
  if (!placed) return [errorMessage(error)];
  const messages = Object.entries(placed.byCondition).flatMap(([key, reasons]) =>
    reasons.map((reason) =>
      key === "" ? sentence(reason) : `Condition ${key.split(".").map((i) => Number(i) + 1).join(".")}: ${reason}`,
    ),
  );
  messages.push(...placed.other.map((p) => `${p.field}: ${p.reason}`));
  return messages.length ? messages : [errorMessage(error)];
}

function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return trimmed;
  const capitalized = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capitalized) ? capitalized : `${capitalized}.`;
}
