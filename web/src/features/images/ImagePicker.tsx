/** A modal to choose a library image (or upload one and choose it at once): for the email
 * editor's image blocks. `onPick` gets the image; its `url` is what a template should show. */
import { Button, Modal, Stack } from "@mantine/core";
import type { LibraryImage } from "./api";
import { ImageLibraryBody } from "./ImageLibraryBody";
import { ImageUploadZone } from "./ImageUploadZone";

export type { LibraryImage } from "./api";

export function ImagePicker({
  opened,
  onClose,
  onPick,
  title = "Choose an image",
}: {
  opened: boolean;
  onClose: () => void;
  onPick: (image: LibraryImage) => void;
  title?: string;
}) {
  const pick = (image: LibraryImage) => {
    onPick(image);
    onClose();
  };
  return (
    <Modal opened={opened} onClose={onClose} title={title} size="xl" centered>
      {opened && (
        <Stack>
          <ImageUploadZone onUploaded={pick} />
          <ImageLibraryBody
            columns={{ base: 2, sm: 3, md: 4 }}
            actions={(image) => (
              <Button size="xs" onClick={() => pick(image)} aria-label={`Choose ${image.name}`}>
                Choose
              </Button>
            )}
          />
        </Stack>
      )}
    </Modal>
  );
}
