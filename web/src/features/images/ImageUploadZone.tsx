/** Drop image files here or pick them: each is uploaded to the library on its own, and the
 * server's reason is shown for any it refuses (wrong type, too large, damaged). */
import { Button, FileButton, Group, Paper, Stack, Text } from "@mantine/core";
import { IconPhotoUp } from "@tabler/icons-react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type DragEvent } from "react";
import { mapFieldErrors } from "../../api/errors";
import { FormErrors } from "../../components/FormErrors";
import { IMAGE_ACCEPT, imageKeys, uploadImage, type LibraryImage } from "./api";

export function ImageUploadZone({ onUploaded }: { onUploaded?: (image: LibraryImage) => void }) {
  const queryClient = useQueryClient();
  const [dragging, setDragging] = useState(false);
  const [problems, setProblems] = useState<string[]>([]);
  const upload = useMutation({
    mutationFn: async (files: File[]) => {
      const found: string[] = [];
      const done: LibraryImage[] = [];
      for (const file of files) {
        try {
          done.push(await uploadImage(file));
        } catch (error) {
          const mapped = mapFieldErrors(error, ["file"]);
          const reason = mapped.byField.file ?? mapped.other.join(" ");
          found.push(`${file.name}: ${reason}`);
        }
      }
      return { done, found };
    },
    onSuccess: ({ done, found }) => {
      setProblems(found);
      if (done.length > 0) void queryClient.invalidateQueries({ queryKey: imageKeys.all });
      for (const image of done) onUploaded?.(image);
    },
  });
  const send = (files: File[]) => {
    if (files.length === 0) return;
    setProblems([]);
    upload.mutate(files);
  };
  const onDrop = (event: DragEvent<HTMLDivElement>) => {
    event.preventDefault();
    setDragging(false);
    send(Array.from(event.dataTransfer.files));
  };
  return (
    <Stack gap="xs">
      <Paper
        withBorder
        p="lg"
        radius="md"
        data-testid="image-drop-zone"
        aria-label="Upload images: drop files here"
        style={{
          borderStyle: "dashed",
          borderWidth: 2,
          background: dragging ? "var(--mantine-color-blue-light)" : undefined,
        }}
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <Group justify="center" gap="md">
          <IconPhotoUp size={32} aria-hidden color="var(--mantine-color-dimmed)" />
          <Stack gap={2}>
            <Text fw={500}>Drop images here</Text>
            <Text size="sm" c="dimmed">
              PNG, JPEG, GIF or WebP, up to 5 MB each (unless your administrator changed the limit). SVG is not
              accepted.
            </Text>
          </Stack>
          <FileButton onChange={(files) => send(files)} accept={IMAGE_ACCEPT} multiple>
            {(props) => (
              <Button {...props} variant="light" loading={upload.isPending}>
                Choose files
              </Button>
            )}
          </FileButton>
        </Group>
      </Paper>
      <FormErrors messages={problems} />
    </Stack>
  );
}
