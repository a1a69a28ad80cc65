/**
 * The template's source in CodeMirror 6: MJML/HTML highlighting, line numbers, long lines wrapped,
 * and Herald's problems marked at their line and column. Loaded on its own (lazily) with the
 * template editor.
 */
import { xml } from "@codemirror/lang-xml";
import { lintGutter, setDiagnostics, type Diagnostic } from "@codemirror/lint";
import { EditorSelection, type Text as Doc } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import CodeMirror from "@uiw/react-codemirror";
import { forwardRef, useEffect, useImperativeHandle, useMemo, useRef } from "react";
import { offsetAt, positionAt, type Problem } from "./problems";

export interface CodeEditorHandle {
  /** Put the cursor at a problem's line and column, and scroll there. */
  goTo: (line: number, column: number | null) => void;
  /** Put text where the cursor is (replacing a selection). */
  insert: (text: string) => void;
}

interface CodeEditorProps {
  value: string;
  onChange: (value: string) => void;
  /** Herald's problems with the body; those with a line are marked in the gutter and the text. */
  problems: readonly Problem[];
  onCursor?: (position: { line: number; column: number }) => void;
  label: string;
}

function diagnostics(doc: Doc, problems: readonly Problem[]): Diagnostic[] {
  const text = doc.toString();
  return problems
    .filter((p) => p.line !== null)
    .map((p) => {
      const from = offsetAt(text, p.line ?? 1, p.column);
      const line = doc.lineAt(Math.min(from, doc.length));
      // The rest of the word at the position, else the rest of the line.
      const word = /^[^\s<>"'{}]+/.exec(text.slice(from, line.to));
      const to = word ? from + word[0].length : line.to;
      return { from, to: Math.max(to, from), severity: "error", message: p.message };
    });
}

const CodeEditor = forwardRef<CodeEditorHandle, CodeEditorProps>(function CodeEditor(
  { value, onChange, problems, onCursor, label },
  ref,
) {
  const view = useRef<EditorView | null>(null);
  const extensions = useMemo(
    () => [
      xml(),
      EditorView.lineWrapping,
      lintGutter(),
      EditorView.contentAttributes.of({ "aria-label": label, spellcheck: "false", autocapitalize: "off" }),
      EditorView.updateListener.of((update) => {
        if (!onCursor || !(update.selectionSet || update.docChanged)) return;
        const head = update.state.selection.main.head;
        onCursor(positionAt(update.state.doc.toString(), head));
      }),
    ],
    [label, onCursor],
  );

  useEffect(() => {
    const current = view.current;
    if (current) current.dispatch(setDiagnostics(current.state, diagnostics(current.state.doc, problems)));
  }, [problems]);

  useImperativeHandle(ref, () => ({
    goTo: (line, column) => {
      const current = view.current;
      if (!current) return;
      const offset = offsetAt(current.state.doc.toString(), line, column);
      current.dispatch({ selection: EditorSelection.cursor(offset), scrollIntoView: true });
      current.focus();
    },
    insert: (text) => {
      const current = view.current;
      if (!current) return;
      current.dispatch(current.state.replaceSelection(text), { scrollIntoView: true });
      current.focus();
    },
  }));

  return (
    <div data-testid="code-editor" style={{ border: "1px solid var(--mantine-color-gray-4)", borderRadius: 4 }}>
      <CodeMirror
        value={value}
        onChange={onChange}
        extensions={extensions}
        minHeight="360px"
        maxHeight="720px"
        basicSetup={{ lineNumbers: true, foldGutter: true, highlightActiveLine: true, autocompletion: false }}
        onCreateEditor={(created) => {
          view.current = created;
          created.dispatch(setDiagnostics(created.state, diagnostics(created.state.doc, problems)));
        }}
        style={{ fontSize: 13 }}
      />
    </div>
  );
});

export default CodeEditor;
