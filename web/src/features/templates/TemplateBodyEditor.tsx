/**
 * The template's body: Visual (drag and drop, MJML only) and Code tabs over the same source, a
 * menu of personalization tags, and saving a section as a reusable block. Switching tabs keeps
 * the content: Visual → Code shows the editor's MJML; Code → Visual loads the MJML into the
 * editor, or says why it cannot and stays in Code.
 */
import { Alert, Button, Group, Input, Loader, Menu, Modal, Stack, Tabs, Text, TextInput } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconBraces, IconDeviceFloppy, IconInfoCircle } from "@tabler/icons-react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Fragment, Suspense, forwardRef, lazy, useCallback, useImperativeHandle, useMemo, useRef, useState } from "react";
import { segmentCatalogQuery } from "../../api/queries";
import { errorMessage } from "../../api/errors";
import type { CodeEditorHandle } from "./CodeEditor";
import type { BodyFormat } from "./form";
import { ProblemLines } from "./ProblemLines";
import type { Problem } from "./problems";
import { ImageChooser, type ImageRequest } from "./ImageChooser";
import { saveBlock, templateBlocksQuery } from "./blocks";
import type { EditorBlock, VisualEditorHandle } from "./VisualEditor";
import { EMPTY_MJML, personalizationTags, visualBlocker } from "./visual";

// One empty list, not a new one each render: the editor re-adds its saved blocks whenever the
// list changes, and GrapesJS rebuilding its block panel on every render detached the buttons.
const NO_SAVED_BLOCKS: readonly EditorBlock[] = [];

const CodeEditor = lazy(() => import("./CodeEditor"));
const VisualEditor = lazy(() => import("./VisualEditor"));

export type EditorMode = "visual" | "code";

/** The tab a body opens in: Visual for MJML it can show, else Code. */
export function initialMode(format: BodyFormat, body: string): EditorMode {
  return format === "mjml" && visualBlocker(body) === null ? "visual" : "code";
}

interface Props {
  format: BodyFormat;
  body: string;
  onChange: (body: string) => void;
  problems: Problem[];
  onCursor: (position: { line: number; column: number }) => void;
  cursor: { line: number; column: number } | null;
}

export interface TemplateBodyEditorHandle {
  /** The body as it is now, text still being typed in the visual editor included. */
  flush: () => Promise<string>;
}

export const TemplateBodyEditor = forwardRef<TemplateBodyEditorHandle, Props>(function TemplateBodyEditor(
  { format, body, onChange, problems, onCursor, cursor },
  ref,
) {
  const [mode, setMode] = useState<EditorMode>(() => initialMode(format, body));
  const [notice, setNotice] = useState<string | null>(null);
  // A new key mounts a new visual editor with the body as it is now.
  const [visualKey, setVisualKey] = useState(0);
  const [visualSource, setVisualSource] = useState(() => body || EMPTY_MJML);
  const [loading, setLoading] = useState(mode === "visual");
  const [image, setImage] = useState<ImageRequest | null>(null);
  const [blockName, setBlockName] = useState<string | null>(null);
  const code = useRef<CodeEditorHandle>(null);
  const visual = useRef<VisualEditorHandle>(null);
  const queryClient = useQueryClient();
  const catalog = useQuery(segmentCatalogQuery);
  const blocks = useQuery(templateBlocksQuery);
  const tags = useMemo(
    () => personalizationTags((catalog.data?.properties ?? []).map((p) => p.name)),
    [catalog.data],
  );
  const groups = useMemo(() => [...new Set(tags.map((t) => t.group))], [tags]);
  const visualMode = format === "mjml" && mode === "visual";

  const label = format === "mjml" ? "Body (MJML)" : "Body (HTML)";

  const switchTo = (next: EditorMode) => {
    if (next === mode) return;
    setNotice(null);
    if (next === "code") {
      // What the editor holds now, the text being typed included.
      const handle = visual.current;
      if (handle) {
        void handle.mjml().then((mjml) => {
          if (mjml !== body) onChange(mjml);
          setMode("code");
        });
      } else {
        setMode("code");
      }
      return;
    }
    const blocker = format === "mjml" ? visualBlocker(body) : "HTML bodies are edited as code only.";
    if (blocker) {
      setNotice(`${blocker} The body stays in Code.`);
      return;
    }
    setVisualSource(body.trim() ? body : EMPTY_MJML);
    setVisualKey((key) => key + 1);
    setLoading(true);
    setMode("visual");
  };

  const onLoad = useCallback(
    (lost: string[]) => {
      setLoading(false);
      if (lost.length === 0) {
        if (!body.trim()) onChange(EMPTY_MJML);
        return true;
      }
      const shown = lost.slice(0, 3).join(", ");
      setNotice(
        `The visual editor cannot keep this MJML as it is (it would lose ${shown}${lost.length > 3 ? ", …" : ""}); ` +
          "Jinja statements between elements belong in <mj-raw>. The body stays in Code.",
      );
      setMode("code");
      return false;
    },
    [body, onChange],
  );

  const insert = (text: string) => {
    if (visualMode) {
      if (!visual.current?.insert(text)) {
        notifications.show({ color: "orange", message: "Select a text or a button in the email first, then insert." });
      }
    } else {
      code.current?.insert(text);
    }
  };

  const goTo = (problem: Problem) => {
    if (problem.line === null) return;
    const line = problem.line;
    if (visualMode) switchTo("code");
    // The code editor may be mounting: try again on the next frames until it is there.
    let tries = 0;
    const attempt = () => {
      if (code.current) code.current.goTo(line, problem.column);
      else if ((tries += 1) < 60) window.requestAnimationFrame(attempt);
    };
    attempt();
  };

  useImperativeHandle(ref, () => ({
    flush: async () => {
      if (!visualMode || !visual.current) return body;
      const mjml = await visual.current.mjml();
      if (mjml !== body) onChange(mjml);
      return mjml;
    },
  }));

  const save = useMutation({
    mutationFn: ({ name, mjml }: { name: string; mjml: string }) => saveBlock(name, mjml),
    onSuccess: (block) => {
      setBlockName(null);
      void queryClient.invalidateQueries({ queryKey: templateBlocksQuery.queryKey });
      notifications.show({ color: "teal", message: `Saved the block “${block.name}”: find it under Saved blocks.` });
    },
  });
  const selection = () => visual.current?.selectedSection() ?? null;
  const startSaving = () => {
    if (!selection()) {
      notifications.show({ color: "orange", message: "Select something in a section of the email first." });
      return;
    }
    save.reset();
    setBlockName("");
  };

  return (
    <Stack gap="xs">
      <Group justify="space-between" align="flex-end" gap="xs">
        <Tabs value={visualMode ? "visual" : "code"} onChange={(value) => switchTo(value as EditorMode)}>
          <Tabs.List aria-label="Body editor">
            <Tabs.Tab value="visual" disabled={format !== "mjml"}>
              Visual
            </Tabs.Tab>
            <Tabs.Tab value="code">Code</Tabs.Tab>
          </Tabs.List>
        </Tabs>
        <Group gap="xs">
          {visualMode && (
            <Button
              size="xs"
              variant="default"
              leftSection={<IconDeviceFloppy size={14} aria-hidden />}
              onClick={startSaving}
            >
              Save section as block
            </Button>
          )}
          <Menu position="bottom-end" withinPortal shadow="md" width={280}>
            <Menu.Target>
              <Button size="xs" variant="default" leftSection={<IconBraces size={14} aria-hidden />}>
                Personalize
              </Button>
            </Menu.Target>
            <Menu.Dropdown mah={420} style={{ overflowY: "auto" }}>
              {groups.map((group) => (
                <Fragment key={group}>
                  <Menu.Label>{group}</Menu.Label>
                  {tags
                    .filter((t) => t.group === group)
                    .map((tag) => (
                      <Menu.Item key={tag.insert} onClick={() => insert(tag.insert)}>
                        {tag.label}
                      </Menu.Item>
                    ))}
                </Fragment>
              ))}
            </Menu.Dropdown>
          </Menu>
        </Group>
      </Group>
      {notice && (
        <Alert color="orange" variant="light" icon={<IconInfoCircle aria-hidden />} p="xs" data-testid="editor-notice">
          {notice}
        </Alert>
      )}
      <Input.Wrapper
        label={label}
        required
        labelElement="div"
        error={problems.length ? <ProblemLines problems={problems} onGoTo={goTo} /> : null}
      >
        <Suspense fallback={<Loader size="sm" aria-label="Loading the editor" />}>
          {visualMode ? (
            <>
              {loading && <Loader size="sm" aria-label="Loading the visual editor" />}
              <VisualEditor
                key={visualKey}
                ref={visual}
                initialMjml={visualSource}
                onChange={onChange}
                onLoad={onLoad}
                onPickImage={(choose) => setImage({ choose })}
                savedBlocks={blocks.data ?? NO_SAVED_BLOCKS}
              />
            </>
          ) : (
            <CodeEditor ref={code} value={body} onChange={onChange} problems={problems} onCursor={onCursor} label={label} />
          )}
        </Suspense>
      </Input.Wrapper>
      {!visualMode && (
        <Text size="xs" c="dimmed" aria-live="off" data-testid="cursor-position">
          {cursor ? `Line ${cursor.line}, column ${cursor.column}` : "\u00a0"}
        </Text>
      )}
      <ImageChooser request={image} onClose={() => setImage(null)} />
      <Modal opened={blockName !== null} onClose={() => setBlockName(null)} title="Save section as block">
        <form
          onSubmit={(event) => {
            event.preventDefault();
            const mjml = selection();
            if (mjml && blockName?.trim()) save.mutate({ name: blockName.trim(), mjml });
          }}
        >
          <Stack gap="sm">
            <Text size="sm">
              The section that holds the selection becomes a block you can drag into any template.
            </Text>
            <TextInput
              label="Block name"
              required
              data-autofocus
              value={blockName ?? ""}
              onChange={(event) => setBlockName(event.currentTarget.value)}
              error={save.isError ? errorMessage(save.error) : undefined}
            />
            <Group justify="flex-end">
              <Button variant="default" onClick={() => setBlockName(null)}>
                Cancel
              </Button>
              <Button type="submit" loading={save.isPending} disabled={!blockName?.trim()}>
                Save block
              </Button>
            </Group>
          </Stack>
        </form>
      </Modal>
    </Stack>
  );
});
