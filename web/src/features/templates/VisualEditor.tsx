/**
 * The drag-and-drop email editor: GrapesJS with grapesjs-mjml, so what it reads and writes is
 * MJML, the same source a person writes in the code view. Loaded lazily (GrapesJS and the MJML
 * compiler it runs in the browser are large), only when someone opens the Visual tab.
 */
import grapesjs, { type Block, type Component, type Editor } from "grapesjs";
import "grapesjs/dist/css/grapes.min.css";
import grapesjsMjmlModule from "grapesjs-mjml";
import { forwardRef, useEffect, useImperativeHandle, useRef } from "react";
import {
  FOOTER_BLOCK,
  IMAGE_PLACEHOLDER,
  PRODUCT_BLOCK,
  formatMjml,
  isSectionFragment,
  lostConstructs,
  restoreJinja,
} from "./visual";

/** A saved block as the editor offers it. */
export interface EditorBlock {
  id: string;
  name: string;
  mjml: string;
}

export interface VisualEditorHandle {
  /** The editor's MJML now, laid out and with its Jinja intact; text being typed is taken in
   * first (it reaches the component when its editing stops). */
  mjml: () => Promise<string>;
  /** Put a personalization tag where the text cursor is, else at the end of the selected text
   * or button. Returns false when nothing that takes text is selected. */
  insert: (text: string) => boolean;
  /** The MJML of the section that holds the selection (for "save as block"), or null. */
  selectedSection: () => string | null;
}

interface VisualEditorProps {
  initialMjml: string;
  /** The MJML after each change (a moment after, while someone is typing). */
  onChange: (mjml: string) => void;
  /** Once the editor has loaded the MJML, with the personalization it could not keep: true
   * takes the editor's MJML from then on, false leaves the source as it was. */
  onLoad: (lost: string[]) => boolean;
  /** Ask for an image; `choose` sets it on the image being edited. */
  onPickImage: (choose: (url: string) => void) => void;
  savedBlocks: readonly EditorBlock[];
}

const BLOCKS = [
  "mj-1-column",
  "mj-2-columns",
  "mj-3-columns",
  "mj-text",
  "mj-image",
  "mj-button",
  "mj-divider",
  "mj-spacer",
  "mj-social-group",
  "mj-social-element",
  "mj-navbar",
  "mj-navbar-link",
  "mj-wrapper",
];

const TEXT_TYPES = new Set(["mj-text", "mj-button", "mj-navbar-link", "text"]);
const SECTION_TYPES = new Set(["mj-section", "mj-wrapper"]);

// grapesjs-mjml ships a UMD bundle: depending on the bundler's interop its default export is the
// plugin or a module object that holds it.
const grapesjsMjml: typeof grapesjsMjmlModule =
  (grapesjsMjmlModule as unknown as { default?: typeof grapesjsMjmlModule }).default ?? grapesjsMjmlModule;

function exported(editor: Editor): string {
  const code = editor.runCommand("mjml-code") as string;
  return formatMjml(restoreJinja(code));
}

function sectionOf(component: Component | undefined): Component | null {
  let current: Component | undefined = component;
  while (current && !SECTION_TYPES.has(current.get("type") ?? "")) current = current.parent();
  return current ?? null;
}

function addSavedBlocks(editor: Editor, blocks: readonly EditorBlock[]) {
  const manager = editor.Blocks;
  for (const block of manager.getAll().filter((b: Block) => b.getId().startsWith("saved-"))) manager.remove(block.getId());
  for (const block of blocks) {
    if (!isSectionFragment(block.mjml)) continue;
    manager.add(`saved-${block.id}`, {
      label: block.name,
      category: "Saved blocks",
      content: block.mjml,
      attributes: { title: block.name },
    });
  }
}

const VisualEditor = forwardRef<VisualEditorHandle, VisualEditorProps>(function VisualEditor(
  { initialMjml, onChange, onLoad, onPickImage, savedBlocks },
  ref,
) {
  const container = useRef<HTMLDivElement>(null);
  const editorRef = useRef<Editor | null>(null);
  // The latest callbacks, for GrapesJS's listeners that are set up once.
  const callbacks = useRef({ onChange, onLoad, onPickImage });
  callbacks.current = { onChange, onLoad, onPickImage };

  useEffect(() => {
    if (!container.current) return;
    const editor = grapesjs.init({
      container: container.current,
      height: "720px",
      width: "auto",
      fromElement: false,
      storageManager: false,
      components: initialMjml,
      plugins: [
        (ed: Editor) =>
          grapesjsMjml(ed, {
            blocks: BLOCKS,
            imagePlaceholderSrc: IMAGE_PLACEHOLDER,
            // Herald has its own import (the Code tab) and export (saving).
            overwriteExport: false,
          }),
      ],
      // Nothing from outside the dashboard: no web fonts or CDN stylesheet in the editor.
      protectedCss: "",
      canvas: { styles: [], scripts: [] },
    });
    editorRef.current = editor;

    editor.Blocks.add("herald-product", {
      label: "Product",
      category: "Herald",
      content: PRODUCT_BLOCK,
      attributes: { title: "A product from the triggering event (an abandoned cart's first item)" },
    });
    editor.Blocks.add("herald-footer", {
      label: "Footer (unsubscribe and address)",
      category: "Herald",
      content: FOOTER_BLOCK,
      attributes: { title: "The postal address and unsubscribe link marketing email needs" },
    });

    // Images come from Herald's image library, not GrapesJS's own asset manager.
    // (GrapesJS types this command as its own asset manager's; any command may replace it.)
    const addCommand = editor.Commands.add.bind(editor.Commands) as (id: string, command: object) => void;
    addCommand("open-assets", {
      run(ed: Editor, _sender: unknown, options: { target?: Component } = {}) {
        const target = options.target ?? ed.getSelected();
        callbacks.current.onPickImage((url) => {
          target?.set("src", url);
          target?.addAttributes({ src: url });
        });
      },
    });

    let last = "";
    editor.on("load", () => {
      editor.Panels.getButton("views", "open-blocks")?.set("active", true);
      last = exported(editor);
      if (!callbacks.current.onLoad(lostConstructs(initialMjml, last))) return;
      container.current?.setAttribute("data-loaded", "true");
      editor.on("update", () => {
        const now = exported(editor);
        if (now === last) return;
        last = now;
        callbacks.current.onChange(now);
      });
    });
    return () => {
      editor.destroy();
      editorRef.current = null;
    };
    // The editor is made once per mount; the parent remounts it to load other MJML.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    if (editorRef.current) addSavedBlocks(editorRef.current, savedBlocks);
  }, [savedBlocks]);

  useImperativeHandle(ref, () => ({
    mjml: async () => {
      const editor = editorRef.current;
      if (!editor) return initialMjml;
      const editing = editor.getEditing()?.getView() as { disableEditing?: () => Promise<void> } | undefined;
      await editing?.disableEditing?.();
      return exported(editor);
    },
    insert: (text) => {
      const editor = editorRef.current;
      if (!editor) return false;
      if (editor.getEditing()) {
        editor.RichTextEditor.globalRte?.insertHTML(text);
        return true;
      }
      const selected = editor.getSelected();
      if (!selected || !TEXT_TYPES.has(selected.get("type") ?? "")) return false;
      selected.append(` ${text}`);
      return true;
    },
    selectedSection: () => {
      const section = sectionOf(editorRef.current?.getSelected());
      return section ? restoreJinja(section.toHTML()) : null;
    },
  }));

  return <div ref={container} data-testid="visual-editor" />;
});

export default VisualEditor;
