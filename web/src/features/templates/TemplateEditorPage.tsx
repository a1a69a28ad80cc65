/** Create (/templates/new) and edit (/templates/:templateId) an email template, with a live preview. */
import {
  Box,
  Button,
  Checkbox,
  Group,
  Paper,
  Radio,
  SimpleGrid,
  Stack,
  Text,
  Textarea,
  TextInput,
  Title,
} from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconCopy, IconTrash } from "@tabler/icons-react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useRef, useState, type ChangeEvent, type ReactNode } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { api, call, type Template, type TemplateCreate } from "../../api/client";
import { ApiError, errorMessage } from "../../api/errors";
import { keys, templateQuery } from "../../api/queries";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { DateTime } from "../../components/DateTime";
import { FormErrors } from "../../components/FormErrors";
import { PageBreadcrumbs } from "../../components/PageBreadcrumbs";
import { PageHeader } from "../../components/PageHeader";
import { CreateOrEdit } from "../../components/QueryResult";
import {
  isStarterBody,
  newTemplateValues,
  starterBody,
  toTemplateBody,
  toTemplateValues,
  type BodyFormat,
  type Kind,
  type TemplateValues,
} from "./form";
import { ProblemLines } from "./ProblemLines";
import { describeProblem, groupProblems, type Problem } from "./problems";
import { TemplateBodyEditor, initialMode, type TemplateBodyEditorHandle } from "./TemplateBodyEditor";
import { StarterCards, type Starter } from "./StarterCards";
import { TemplatePreviewPane } from "./TemplatePreviewPane";

/** The fields that show their own problems; anything else is listed above the buttons. */
const SHOWN_FIELDS = new Set(["name", "kind", "subject", "preheader", "from_name", "from_email", "reply_to", "body", "text_body"]);

/** The fields edited in a plain text input. */
type TextKey = "name" | "subject" | "preheader" | "from_name" | "from_email" | "reply_to" | "text_body";

export function TemplateEditorPage() {
  const { templateId } = useParams();
  const template = useQuery({ ...templateQuery(templateId ?? ""), enabled: Boolean(templateId) });
  return (
    <CreateOrEdit id={templateId} query={template} thing="template">
      {(existing) => <TemplateForm template={existing} />}
    </CreateOrEdit>
  );
}

function TemplateForm({ template }: { template?: Template }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [values, setValues] = useState<TemplateValues>(() =>
    template ? toTemplateValues(template) : newTemplateValues(),
  );
  const [saved, setSaved] = useState<string>(() => JSON.stringify(toTemplateBody(values)));
  const [problems, setProblems] = useState<Record<string, Problem[]>>({});
  const [formErrors, setFormErrors] = useState<string[]>([]);
  const [deleting, setDeleting] = useState(false);
  const [cursor, setCursor] = useState<{ line: number; column: number } | null>(null);
  const bodyEditor = useRef<TemplateBodyEditorHandle>(null);
  // Which starter a new template began from; a new choice loads a new body into the editors.
  const [starter, setStarter] = useState("blank");
  // The visual editor is wide: the preview goes below it, beside the code.
  const [wide] = useState(() => initialMode(values.body_format, values.body) === "visual");
  const body = useMemo(() => toTemplateBody(values), [values]);
  const dirty = JSON.stringify(body) !== saved;

  function set<K extends keyof TemplateValues>(key: K, value: TemplateValues[K]) {
    setValues((current) => ({ ...current, [key]: value }));
    // What the last save said is out of date once something changes.
    setFormErrors([]);
    // A field's problems were about what it held when it was saved.
    setProblems((current) => {
      if (!(key in current)) return current;
      const { [key]: _gone, ...rest } = current;
      return rest;
    });
  }

  const save = useMutation({
    mutationFn: (body: TemplateCreate) =>
      template
        ? call(api.PATCH("/api/templates/{template_id}", { params: { path: { template_id: template.id } }, body }))
        : call(api.POST("/api/templates", { body })),
    onSuccess: (result) => {
      setProblems({});
      setFormErrors([]);
      setSaved(JSON.stringify(toTemplateBody(toTemplateValues(result))));
      queryClient.setQueryData(keys.template(result.id), result);
      void queryClient.invalidateQueries({ queryKey: keys.templatesAll, exact: true });
      notifications.show({ color: "teal", message: `Template “${result.name}” saved.` });
      if (!template) void navigate(`/templates/${result.id}`, { replace: true });
    },
    onError: (error) => {
      if (!(error instanceof ApiError) || error.fields.length === 0) {
        setProblems({});
        setFormErrors([errorMessage(error)]);
        return;
      }
      const grouped = groupProblems(error.fields);
      setProblems(grouped);
      const elsewhere = Object.entries(grouped)
        .filter(([field]) => !SHOWN_FIELDS.has(field))
        .flatMap(([field, list]) => list.map((p) => (field ? `${field}: ${describeProblem(p)}` : describeProblem(p))));
      setFormErrors(["The template was not saved: see the problems under the fields.", ...elsewhere]);
    },
  });

  const duplicate = useMutation({
    mutationFn: (id: string) =>
      call(api.POST("/api/templates/{template_id}/duplicate", { params: { path: { template_id: id } } })),
    onSuccess: (copy) => {
      queryClient.setQueryData(keys.template(copy.id), copy);
      void queryClient.invalidateQueries({ queryKey: keys.templatesAll, exact: true });
      notifications.show({ color: "teal", message: `Copied the saved template as “${copy.name}”.` });
      void navigate(`/templates/${copy.id}`);
    },
    onError: (error) => notifications.show({ color: "red", title: "Not duplicated", message: errorMessage(error) }),
  });

  const remove = useMutation({
    mutationFn: (id: string) =>
      call(api.DELETE("/api/templates/{template_id}", { params: { path: { template_id: id } } })),
    onSuccess: () => {
      setDeleting(false);
      if (template) queryClient.removeQueries({ queryKey: keys.template(template.id) });
      void queryClient.invalidateQueries({ queryKey: keys.templatesAll, exact: true });
      notifications.show({ color: "teal", message: `Template “${template?.name ?? ""}” deleted.` });
      void navigate("/templates");
    },
  });

  const submit = async () => {
    setFormErrors([]);
    // Text still being typed in the visual editor is part of what is saved.
    const latest = (await bodyEditor.current?.flush()) ?? values.body;
    const missing: Record<string, Problem[]> = {};
    if (!values.name.trim()) missing.name = [{ line: null, column: null, message: "Give the template a name." }];
    if (!values.subject.trim()) missing.subject = [{ line: null, column: null, message: "Write a subject." }];
    if (!latest.trim()) missing.body = [{ line: null, column: null, message: "Write the body." }];
    if (Object.keys(missing).length) {
      setProblems(missing);
      return;
    }
    save.mutate(toTemplateBody({ ...values, body: latest }));
  };

  const fieldError = (field: string): ReactNode => {
    const list = problems[field];
    if (!list?.length) return null;
    return <ProblemLines problems={list} />;
  };

  /** The value, the problems and the change handler of a plain text input. */
  const textField = (key: TextKey) => ({
    value: values[key],
    error: fieldError(key),
    onChange: (event: ChangeEvent<HTMLInputElement | HTMLTextAreaElement>) => set(key, event.currentTarget.value),
  });

  const chooseStarter = (chosen: Starter | null) => {
    const blank = newTemplateValues();
    setValues((current) => ({
      ...current,
      name: current.name.trim() ? current.name : (chosen?.name ?? ""),
      kind: chosen?.kind ?? blank.kind,
      subject: chosen?.subject ?? blank.subject,
      preheader: chosen?.preheader ?? blank.preheader,
      body_format: "mjml",
      body: chosen?.mjml ?? blank.body,
    }));
    setProblems({});
    setFormErrors([]);
    setStarter(chosen?.key ?? "blank");
  };

  const changeFormat = (format: BodyFormat) => {
    // The starter body follows the format; a body someone wrote stays as it is.
    if (isStarterBody(values.body)) set("body", starterBody(format));
    set("body_format", format);
  };

  return (
    <>
      <PageBreadcrumbs links={[{ to: "/templates", label: "Templates" }]} current={template ? template.name : "New"} />
      <PageHeader
        title={template ? template.name : "New template"}
        description={
          template ? (
            <>
              Last saved <DateTime value={template.updated_at} relative />. Personalize with{" "}
              <Text span ff="monospace" size="sm">
                {"{{ profile.first_name }}"}
              </Text>
              , <Text span ff="monospace" size="sm">{"{{ data.… }}"}</Text> and the other variables in the template guide.
            </>
          ) : (
            "Write the email in MJML or HTML; the preview shows it as a recipient would get it."
          )
        }
        actions={
          template && (
            <>
              <Button
                variant="default"
                leftSection={<IconCopy size={16} aria-hidden />}
                loading={duplicate.isPending}
                onClick={() => duplicate.mutate(template.id)}
              >
                Duplicate
              </Button>
              <Button
                variant="default"
                color="red"
                leftSection={<IconTrash size={16} aria-hidden />}
                onClick={() => setDeleting(true)}
              >
                Delete
              </Button>
            </>
          )
        }
      />
      {!template && (
        <Box mb="lg">
          <StarterCards chosen={starter} onChoose={chooseStarter} />
        </Box>
      )}
      <Group align="flex-start" gap="lg" wrap="wrap">
        <Box style={{ flex: wide ? "1 1 100%" : "1 1 480px", minWidth: 0 }}>
          <form
            noValidate
            aria-label="Template"
            onSubmit={(event) => {
              event.preventDefault();
              void submit();
            }}
          >
            <Stack gap="md">
              <Paper withBorder p="md">
                <Stack gap="sm">
                  <TextInput label="Name" required {...textField("name")} />
                  <Radio.Group
                    label="Kind"
                    description={
                      values.kind === "marketing"
                        ? "Marketing email must contain {{ unsubscribe_url }} (or {{ preferences_url }}) and {{ organization.postal_address }}; it is not sent to people who unsubscribed."
                        : "Receipts, password resets and other messages a person asked for: sent even after an unsubscribe."
                    }
                    value={values.kind}
                    onChange={(value) => set("kind", value as Kind)}
                    error={fieldError("kind")}
                  >
                    <Group mt={6}>
                      <Radio value="marketing" label="Marketing" />
                      <Radio value="transactional" label="Transactional" />
                    </Group>
                  </Radio.Group>
                  <TextInput label="Subject" required ff="monospace" {...textField("subject")} />
                  <TextInput
                    label="Preheader"
                    description="The preview text most inboxes show after the subject."
                    {...textField("preheader")}
                  />
                  <SimpleGrid cols={{ base: 1, sm: 2 }}>
                    <TextInput label="From name" placeholder="Default sender" {...textField("from_name")} />
                    <TextInput
                      label="From email"
                      type="email"
                      placeholder="Default sender"
                      {...textField("from_email")}
                    />
                    <TextInput label="Reply-to" type="email" placeholder="Optional" {...textField("reply_to")} />
                  </SimpleGrid>
                  <Text size="xs" c="dimmed">
                    Left empty, the sender is the default one from Settings → Email.
                  </Text>
                </Stack>
              </Paper>
              <Paper withBorder p="md" component="section" aria-labelledby="template-body-title">
                <Stack gap="sm">
                  <Group justify="space-between" align="flex-end">
                    <Title order={2} fz="h4" id="template-body-title">
                      Body
                    </Title>
                    <Radio.Group
                      label="Body format"
                      value={values.body_format}
                      onChange={(value) => changeFormat(value as BodyFormat)}
                    >
                      <Group gap="md" mt={4}>
                        <Radio value="mjml" label="MJML" />
                        <Radio value="html" label="HTML" />
                      </Group>
                    </Radio.Group>
                  </Group>
                  <TemplateBodyEditor
                    key={`${starter}:${values.body_format}`}
                    ref={bodyEditor}
                    format={values.body_format}
                    body={values.body}
                    onChange={(next) => set("body", next)}
                    problems={problems.body ?? []}
                    onCursor={setCursor}
                    cursor={cursor}
                  />
                  <Checkbox
                    label="Write the plain-text part myself"
                    description="Otherwise Herald makes it from the HTML."
                    checked={values.custom_text}
                    onChange={(event) => set("custom_text", event.currentTarget.checked)}
                  />
                  {values.custom_text && (
                    <Textarea
                      label="Plain-text part"
                      autosize
                      minRows={6}
                      maxRows={20}
                      spellCheck={false}
                      {...textField("text_body")}
                      styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)", fontSize: 13 } }}
                    />
                  )}
                </Stack>
              </Paper>
              <FormErrors messages={formErrors} />
              <Group>
                <Button type="submit" loading={save.isPending} disabled={Boolean(template) && !dirty}>
                  {template ? "Save changes" : "Save template"}
                </Button>
                <Button variant="default" component={Link} to="/templates">
                  {template && !dirty ? "Back to templates" : "Cancel"}
                </Button>
                {template && dirty && (
                  <Text size="sm" c="dimmed">
                    Unsaved changes
                  </Text>
                )}
              </Group>
            </Stack>
          </form>
        </Box>
        {/* As wide as the 600 px email and its frame, so the desktop preview is never clipped. */}
        <Box style={{ flex: "1 0 664px", maxWidth: "100%", minWidth: 0 }}>
          <TemplatePreviewPane values={values} templateId={template?.id} saved={Boolean(template) && !dirty} />
        </Box>
      </Group>
      {template && (
        <ConfirmDialog
          opened={deleting}
          title="Delete this template?"
          confirmLabel="Delete template"
          busy={remove.isPending}
          errors={remove.isError ? [errorMessage(remove.error)] : []}
          onCancel={() => {
            setDeleting(false);
            remove.reset();
          }}
          onConfirm={() => remove.mutate(template.id)}
        >
          “{template.name}” will be deleted. Messages already sent with it stay in their history.
        </ConfirmDialog>
      )}
    </>
  );
}

