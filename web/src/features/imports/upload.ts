/** What the two upload dialogs share. */

export interface UploadDialogProps {
  opened: boolean;
  onClose: () => void;
  /** Called once the server accepted the file (the import then runs in the background). */
  onUploaded: () => void;
}

/** The multipart body of an upload: the file, and any other parts as text. */
export function uploadForm(file: File, parts: Readonly<Record<string, string>> = {}): FormData {
  const form = new FormData();
  form.append("file", file);
  for (const [name, value] of Object.entries(parts)) form.append(name, value);
  return form;
}
