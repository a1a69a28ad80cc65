/** Import events: pick a JSON Lines file and upload it. */
import { Button, FileInput, Group, Modal, Stack } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconFileText } from "@tabler/icons-react";
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { api, call } from "../../api/client";
import { mapFieldErrors } from "../../api/errors";
import { FormErrors } from "../../components/FormErrors";
import { uploadForm, type UploadDialogProps } from "./upload";

export function EventImportModal({ opened, onClose, onUploaded }: UploadDialogProps) {
  const [file, setFile] = useState<File | null>(null);
  const [fileError, setFileError] = useState<string | null>(null);
  const [other, setOther] = useState<string[]>([]);
  const close = () => {
    setFile(null);
    setFileError(null);
    setOther([]);
    onClose();
  };
  const upload = useMutation({
    mutationFn: (chosen: File) => {
      const form = uploadForm(chosen);
      // The typed body stands for the parts; the form data is what is sent.
      return call(api.POST("/api/imports/events", { body: { file: chosen.name }, bodySerializer: () => form }));
    },
    onSuccess: (_job, chosen) => {
      notifications.show({ color: "teal", message: `Importing ${chosen.name}. Follow its progress in the list.` });
      onUploaded();
      close();
    },
    onError: (error) => {
      const mapped = mapFieldErrors(error, ["file"]);
      setFileError(mapped.byField.file ?? null);
      setOther(mapped.other);
    },
  });
  return (
    <Modal opened={opened} onClose={close} title="Import events from JSON Lines" size="lg" centered>
      <form
        noValidate
        aria-label="Import events"
        onSubmit={(event) => {
          event.preventDefault();
          if (file) upload.mutate(file);
          else setFileError("Pick a JSON Lines file.");
        }}
      >
        <Stack>
          <FileInput
            label="JSON Lines file"
            description='UTF-8, one event a line, each a JSON object as for /api/track: {"event": "Placed Order", "profile": {"email": "ada@example.com"}, "value": 59.9, "time": "2024-03-01T12:00:00Z", "unique_id": "order-1001"}. Give past events their time; an event whose unique_id Herald has already stored is not stored again.'
            placeholder="Pick a file"
            accept=".jsonl,.ndjson,.json,.txt,application/x-ndjson,application/jsonl"
            leftSection={<IconFileText size={16} aria-hidden />}
            clearable
            value={file}
            error={fileError}
            onChange={(chosen) => {
              setFile(chosen);
              setFileError(null);
              setOther([]);
            }}
          />
          <FormErrors messages={other} />
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button type="submit" loading={upload.isPending}>
              Import events
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
